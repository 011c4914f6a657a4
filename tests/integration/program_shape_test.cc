// The loaded programs as the verifier left them. Every map lookup must name one map at its call
// instruction: only then does the verifier inline it (or call the map's own lookup directly).
// A lookup instruction that clang shares between two maps (the IPv4 and IPv6 caches, say) goes
// through the generic bpf_map_lookup_elem helper and an indirect call; the programs still give
// the right verdicts, so only a look at their instructions catches it. That happened once: under
// load the programs then took twice as long per packet at a million prefixes as at one.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/engine_fixture.h"

namespace gatekeeper::testing {
namespace {

using kernel::Direction;

// Kernel symbol addresses by name, for the names asked for (0 when hidden by kptr_restrict).
std::map<std::string, uint64_t> KernelSymbols(const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> found;
  std::ifstream in("/proc/kallsyms");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string address;
    std::string type;
    std::string name;
    if (!(fields >> address >> type >> name)) continue;
    for (const std::string& wanted : names) {
      if (name == wanted && !found.contains(name)) found[name] = std::stoull(address, nullptr, 16);
    }
  }
  return found;
}

// The program's instructions after the verifier's rewrites (BPF_OBJ_GET_INFO_BY_FD).
std::vector<bpf_insn> Xlated(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0) << strerror(errno);
  std::vector<bpf_insn> insns(info.xlated_prog_len / sizeof(bpf_insn));
  const uint32_t size = info.xlated_prog_len;
  info = {};
  info.xlated_prog_len = size;
  info.xlated_prog_insns = reinterpret_cast<uint64_t>(insns.data());
  len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0) << strerror(errno);
  return insns;
}

class ProgramShapeTest : public EngineFixture {};

TEST_F(ProgramShapeTest, EveryMapLookupIsInlinedOrDirect) {
  if (!ready_) return;
  kernel::ScopeSpec spec = Spec("shape.socket");
  spec.allow_cache_min_prefixes = 0;  // the cache in use, as with a deep policy
  auto scope = engine_->AttachScope(spec, Policy("192.0.2.2 2001:db8::2", "any"));
  ASSERT_TRUE(scope.ok()) << scope.status();

  const auto symbols =
      KernelSymbols({"__bpf_call_base", "bpf_map_lookup_elem", "__htab_map_lookup_elem"});
  if (symbols.size() != 3 || symbols.at("__bpf_call_base") == 0) {
    // Raw instruction dumps follow the same rule as kallsyms addresses (kptr_restrict); a
    // missing name means the kernel renamed a function this test looks for.
    const std::string why = absl::StrCat("found ", symbols.size(),
                                         " of 3 kernel symbols, or their addresses are hidden");
    if (PrivilegedRequired()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const uint64_t base = symbols.at("__bpf_call_base");

  for (const Direction dir : {Direction::kIngress, Direction::kEgress}) {
    SCOPED_TRACE(dir == Direction::kIngress ? "ingress" : "egress");
    auto prog = (*scope)->ProgramFd(dir);
    ASSERT_TRUE(prog.ok()) << prog.status();
    int generic = 0;
    int hash_lookups = 0;
    for (const bpf_insn& insn : Xlated(prog->get())) {
      if (insn.code != (BPF_JMP | BPF_CALL) || insn.src_reg != 0) continue;  // helpers only
      const uint64_t target = base + static_cast<uint64_t>(static_cast<int64_t>(insn.imm));
      if (target == symbols.at("bpf_map_lookup_elem")) ++generic;
      if (target == symbols.at("__htab_map_lookup_elem")) ++hash_lookups;
    }
    EXPECT_EQ(generic, 0) << "lookups left to the generic helper";
    // One inlined cache lookup per family: proves the check above looked at the right calls.
    EXPECT_EQ(hash_lookups, 2);
  }
}

}  // namespace
}  // namespace gatekeeper::testing
