// Text and JSON renderings of a Report (declared in analyze.h).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "analyze/analyze.h"

namespace gatekeeper::analyze {
namespace {

std::string Indent(const std::string& text, const std::string& prefix) {
  std::string out;
  absl::string_view t(text);
  if (!t.empty() && t.back() == '\n') t.remove_suffix(1);
  for (absl::string_view line : absl::StrSplit(t, '\n')) {
    absl::StrAppend(&out, line.empty() ? "" : prefix, line, "\n");
  }
  return out;
}

// Says which strongly connected sets hold cycles beyond those listed: the operator fixes the
// listed ones and runs again rather than believing the list complete.
std::string CutShortText(const Report& r) {
  if (r.cut_short.empty()) return "";
  std::string out = absl::StrCat("cycles cut short in ", r.cut_short.size(),
                                 " strongly connected set(s) of units (at most ", r.cycle_limit,
                                 " cycles are listed, and the search is bounded):\n");
  for (const CutShortSet& c : r.cut_short) {
    absl::StrAppend(&out, "  ",
                    c.more_exist ? "more cycles exist among these "
                                 : "the search stopped before it had every cycle among these ",
                    c.units.size(), " units: ", absl::StrJoin(c.units, ", "),
                    "; fix the ones above and run again\n");
  }
  return out + "\n";
}

}  // namespace

std::string RenderText(const Report& r) {
  std::string out;
  for (const Warning& w : r.warnings) absl::StrAppend(&out, FormatWarning(w), "\n");
  if (!r.warnings.empty()) out += "\n";
  int n = 0;
  for (const Finding& f : r.findings) {
    absl::StrAppend(&out, FindingKindName(f.kind), " ", ++n, ": ", f.summary, "\n");
    for (const Step& s : f.chain) {
      absl::StrAppend(&out, "  ", s.from, " --", s.relation, "--> ", s.to, "   (", s.why.Describe(),
                      ")\n");
    }
    int k = 0;
    for (const Fix& x : f.fixes) {
      absl::StrAppend(&out, "  fix ", n, ".", ++k, ": ", x.title, "\n");
      if (!x.path.empty() && !x.content.empty()) {
        absl::StrAppend(&out, "    ", x.path, ":\n", Indent(x.content, "      "));
      }
      for (const std::string& c : x.commands) absl::StrAppend(&out, "    $ ", c, "\n");
      if (!x.note.empty()) absl::StrAppend(&out, "    note: ", x.note, "\n");
    }
    out += "\n";
  }
  out += CutShortText(r);
  absl::StrAppend(&out, r.findings.empty() ? "no ordering cycles or device stalls" : "found ",
                  r.findings.empty() ? "" : absl::StrCat(r.findings.size(), " problem(s)"),
                  " in the start transaction of ", r.transaction_size, " units from ",
                  r.start.empty() ? "?" : r.start.front(), r.start.size() > 1 ? " ..." : "", " (",
                  r.units_loaded, " unit names looked up under ", r.root, ")\n");
  return out;
}

nlohmann::json RenderJson(const Report& r) {
  nlohmann::json j;
  j["root"] = r.root;
  j["start"] = r.start;
  j["units_loaded"] = r.units_loaded;
  j["transaction_size"] = r.transaction_size;
  j["findings"] = nlohmann::json::array();
  for (const Finding& f : r.findings) {
    nlohmann::json jf = {{"kind", FindingKindName(f.kind)},
                         {"summary", f.summary},
                         {"unit", f.unit},
                         {"device", f.device},
                         {"creator", f.creator}};
    jf["chain"] = nlohmann::json::array();
    for (const Step& s : f.chain) {
      jf["chain"].push_back({{"from", s.from},
                             {"relation", s.relation},
                             {"to", s.to},
                             {"file", s.why.file},
                             {"line", s.why.line},
                             {"setting", s.why.setting},
                             {"rule", s.why.rule},
                             {"provenance", s.why.Describe()}});
    }
    jf["fixes"] = nlohmann::json::array();
    for (const Fix& x : f.fixes) {
      jf["fixes"].push_back({{"title", x.title},
                             {"path", x.path},
                             {"content", x.content},
                             {"commands", x.commands},
                             {"note", x.note}});
    }
    j["findings"].push_back(std::move(jf));
  }
  j["cycle_limit"] = r.cycle_limit;
  j["cut_short_sets"] = r.cut_short.size();
  j["cut_short"] = nlohmann::json::array();
  for (const CutShortSet& c : r.cut_short) {
    j["cut_short"].push_back(
        {{"units", c.units}, {"cycles_listed", c.listed}, {"more_cycles_exist", c.more_exist}});
  }
  j["warnings"] = nlohmann::json::array();
  for (const Warning& w : r.warnings) {
    j["warnings"].push_back({{"file", w.file}, {"line", w.line}, {"message", w.message}});
  }
  return j;
}

}  // namespace gatekeeper::analyze
