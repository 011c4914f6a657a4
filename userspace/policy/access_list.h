// IPAddressAllow= / IPAddressDeny= lists with systemd's semantics (systemd.resource-control(5)).
#ifndef GATEKEEPER_POLICY_ACCESS_LIST_H_
#define GATEKEEPER_POLICY_ACCESS_LIST_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "policy/address.h"
#include "policy/text.h"

namespace gatekeeper::policy {

// Where an entry came from, so that `explain` and denial logs can name it. Later sources (a
// WireGuard peer, a DNS name) fill `source` instead of file/line. Every entry of an assignment
// holds a copy, so the texts are shared rather than copied (see SharedText).
struct Origin {
  SharedText file;
  int line = 0;
  SharedText key;     // "IPAddressAllow", "IPAddressDeny"
  SharedText source;  // non-file sources, e.g. "wg0 peer <key>"; empty for files

  // "web.gate:7 IPAddressAllow=" or "<source> IPAddressAllow="
  std::string ToString() const;
  bool operator==(const Origin&) const = default;
};

struct Entry {
  Prefix prefix;
  Token token;  // as written: "localhost", "192.0.2.7/24"
  Origin origin;
};

// One list of one scope. Assignments accumulate; an empty assignment resets the list.
class AddressList {
 public:
  // Copies share the entries until one of them changes (copy on write): the daemon holds a
  // gate's lists in its running configuration and in the gate's own record, its compiled policy
  // points into them, and a list of a million entries takes some 96 MB.
  AddressList() = default;

  // Applies one assignment's value (whitespace-separated tokens). An empty or all-blank value
  // clears the list. On error nothing is added and the message names the offending token, e.g.
  // `invalid address prefix "example.com": host names are not allowed`.
  absl::Status Assign(std::string_view value, const Origin& origin);

  // Every entry in assignment order, duplicates and covered prefixes included.
  const std::vector<Entry>& entries() const;
  // The same entries, kept alive for as long as the caller holds them, however the list changes
  // afterwards (a compiled policy's rules point into them); null when there are none.
  std::shared_ptr<const std::vector<Entry>> SharedEntries() const { return entries_; }
  bool empty() const { return !entries_ || entries_->empty(); }

  // Room for `n` entries in all, for a caller that knows how many are coming (CountTokens()):
  // a large list then gets its memory once instead of growing into it by doubling.
  void reserve(size_t n);

 private:
  // The entries, to change them: copied first when another list shares them.
  std::vector<Entry>& Mutable();

  std::shared_ptr<std::vector<Entry>> entries_;  // null: no entries yet
};

// The two lists of one scope (host, a gate's socket, a gate's service).
struct AccessLists {
  AddressList allow;
  AddressList deny;
};

// Parses one token into the prefixes it stands for (special words give two: IPv4 and IPv6).
// Exposed for the fuzzer and for tests.
absl::Status ParseToken(std::string_view token, std::vector<Prefix>& out);

// The number of tokens in an assignment's value: the entries Assign() adds, but for special
// words, which add two each. Cheap next to parsing them.
size_t CountTokens(std::string_view value);

// Drops entries whose prefix is covered by another entry's prefix (systemd's reduce step); among
// equal prefixes the first assigned stays. Output is sorted by family, address, length.
std::vector<Entry> Reduce(const std::vector<Entry>& entries);

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_ACCESS_LIST_H_
