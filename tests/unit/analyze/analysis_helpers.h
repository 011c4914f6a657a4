// Shared by the analyze tests: a whole analysis of a root, and a finding's chain as text.
#ifndef GATEKEEPER_TESTS_UNIT_ANALYZE_ANALYSIS_HELPERS_H_
#define GATEKEEPER_TESTS_UNIT_ANALYZE_ANALYSIS_HELPERS_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analyze/analyze.h"

namespace gatekeeper::analyze {

inline Report RunAnalysis(const std::string& root, Options o = {}) {
  o.root = root;
  absl::StatusOr<Report> r = Analyze(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Report{};
}

// One "FROM --RELATION--> TO" line per edge of the chain.
inline std::vector<std::string> Links(const Finding& f) {
  std::vector<std::string> out;
  for (const Step& s : f.chain) out.push_back(s.from + " --" + s.relation + "--> " + s.to);
  return out;
}

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_TESTS_UNIT_ANALYZE_ANALYSIS_HELPERS_H_
