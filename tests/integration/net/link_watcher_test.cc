// LinkWatcher against the real kernel, each test in network namespaces of its own (veth pairs:
// the dummy module is not available everywhere). Waiting is done on the watcher's fd with a
// deadline, never by sleeping.
#include "net/link_watcher.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/net/watcher_helpers.h"
#include "tests/integration/test_env.h"

namespace gatekeeper::testing {
namespace {

using net::AddressFilter;
using net::LinkWatcher;
using ::testing::IsEmpty;

policy::Address Ip(const char* text) { return *policy::Address::Parse(text); }

class LinkWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GK_REQUIRE_ROOT();
    netns_ = std::make_unique<Netns>(UniqueName("gks"));
  }
  // The watcher goes before the namespace: its sockets keep the namespace alive.
  void TearDown() override {
    watcher_.reset();
    netns_.reset();
  }

  void StartWatcher(net::LinkWatcherOptions options = {}) {
    auto watcher = CreateWatcherIn(
        *netns_, [this] { ++changes_; }, options);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }

  // A veth pair, both ends in the test namespace; returns one end's name, `peer_out` the other's.
  std::string AddVeth(bool up = false, std::string* peer_out = nullptr) {
    const std::string name = UniqueName("gkv");
    const std::string peer = UniqueName("gkp");
    if (peer_out) *peer_out = peer;
    netns_->Ip({"link", "add", "name", name, "type", "veth", "peer", "name", peer});
    if (up) {
      netns_->Ip({"link", "set", "dev", name, "up"});
      netns_->Ip({"link", "set", "dev", peer, "up"});
    }
    return name;
  }

  bool Has(const std::string& ifname, const char* ip) {
    return watcher_->HasAddress(ifname, Ip(ip));
  }

  std::unique_ptr<Netns> netns_;
  std::unique_ptr<LinkWatcher> watcher_;
  int changes_ = 0;
};

TEST_F(LinkWatcherTest, InitialDumpSeesExistingLinksAndAddresses) {
  const std::string dev = AddVeth(/*up=*/true);
  const std::string idle = AddVeth();
  netns_->Ip({"addr", "add", "192.0.2.1/24", "dev", dev});
  netns_->Ip({"addr", "add", "2001:db8::1/64", "dev", dev, "nodad"});
  StartWatcher();

  // Answered from the dump alone, before any Process().
  std::optional<net::Link> link = watcher_->FindLink(dev);
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->ifindex, KernelIfindex(*netns_, dev));
  EXPECT_TRUE(link->admin_up());
  EXPECT_FALSE(watcher_->FindLink(idle)->admin_up());
  EXPECT_TRUE(Has(dev, "192.0.2.1"));
  EXPECT_TRUE(Has(dev, "2001:db8::1"));
  EXPECT_FALSE(Has(idle, "192.0.2.1"));
  EXPECT_FALSE(watcher_->FindLink("gkv-none").has_value());
  // Exactly the test namespace's links (lo and the two pairs), not the host's.
  EXPECT_EQ(WatcherLinks(*watcher_), KernelLinks(*netns_));
  EXPECT_EQ(WatcherAddresses(*watcher_), KernelAddresses(*netns_));
  EXPECT_EQ(watcher_->resyncs(), 0u);
}

TEST_F(LinkWatcherTest, FollowsLinkAddUpDownAndDelete) {
  StartWatcher();
  std::string peer;
  const std::string dev = AddVeth(/*up=*/false, &peer);
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return watcher_->FindLink(dev).has_value(); }));
  EXPECT_EQ(watcher_->FindLink(dev)->ifindex, KernelIfindex(*netns_, dev));
  EXPECT_FALSE(watcher_->FindLink(dev)->admin_up());
  EXPECT_GT(changes_, 0);

  // Up without carrier (the peer is down): admin up, not running.
  netns_->Ip({"link", "set", "dev", dev, "up"});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return watcher_->FindLink(dev)->admin_up(); }));
  EXPECT_FALSE(watcher_->FindLink(dev)->running());

  netns_->Ip({"link", "set", "dev", peer, "up"});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return watcher_->FindLink(dev)->running(); }));
  EXPECT_TRUE(watcher_->FindLink(dev)->lower_up());

  netns_->Ip({"link", "set", "dev", dev, "down"});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return !watcher_->FindLink(dev)->admin_up(); }));
  EXPECT_FALSE(watcher_->FindLink(dev)->running());

  netns_->Ip({"link", "del", "dev", dev});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return !watcher_->FindLink(dev).has_value(); }));
  EXPECT_EQ(WatcherLinks(*watcher_), KernelLinks(*netns_));  // the peer went with it
  EXPECT_EQ(watcher_->resyncs(), 0u);
}

TEST_F(LinkWatcherTest, FollowsIPv4AndIPv6Addresses) {
  const std::string dev = AddVeth(/*up=*/true);
  StartWatcher();
  netns_->Ip({"addr", "add", "198.51.100.1/24", "dev", dev});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return Has(dev, "198.51.100.1"); }));
  netns_->Ip({"addr", "add", "2001:db8::5/64", "dev", dev, "nodad"});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return Has(dev, "2001:db8::5"); }));

  bool found = false;
  for (const net::AddressInfo& a : watcher_->Addresses(dev)) {
    if (a.address == Ip("198.51.100.1")) {
      found = true;
      EXPECT_EQ(a.prefix_len, 24);
    }
  }
  EXPECT_TRUE(found);

  netns_->Ip({"addr", "del", "198.51.100.1/24", "dev", dev});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return !Has(dev, "198.51.100.1"); }));
  EXPECT_TRUE(Has(dev, "2001:db8::5"));
  netns_->Ip({"addr", "del", "2001:db8::5/64", "dev", dev});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return !Has(dev, "2001:db8::5"); }));
}

TEST_F(LinkWatcherTest, TentativeIPv6AddressIsAbsentUntilDadFinishes) {
  const std::string dev = AddVeth(/*up=*/true);
  StartWatcher();
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return watcher_->FindLink(dev)->running(); }));

  // Without nodad on a link with carrier: DAD runs for a second or two.
  netns_->Ip({"addr", "add", "2001:db8::7/64", "dev", dev});
  auto listed = [&] {
    for (const net::AddressInfo& a : watcher_->Addresses(dev, AddressFilter::kAll)) {
      if (a.address == Ip("2001:db8::7")) return true;
    }
    return false;
  };
  ASSERT_TRUE(ProcessUntil(*watcher_, listed));
  EXPECT_FALSE(Has(dev, "2001:db8::7")) << "still tentative, so not usable";

  ASSERT_TRUE(ProcessUntil(
      *watcher_, [&] { return Has(dev, "2001:db8::7"); }, std::chrono::seconds(10)));
}

TEST_F(LinkWatcherTest, RecreatedLinkGetsTheNewIfindexAndNoneOfTheOldAddresses) {
  const std::string dev = AddVeth(/*up=*/true);
  netns_->Ip({"addr", "add", "192.0.2.10/24", "dev", dev});
  netns_->Ip({"addr", "add", "2001:db8::10/64", "dev", dev, "nodad"});
  StartWatcher();
  ASSERT_TRUE(Has(dev, "192.0.2.10"));
  const int old_ifindex = watcher_->FindLink(dev)->ifindex;

  netns_->Ip({"link", "del", "dev", dev});
  netns_->Ip({"link", "add", "name", dev, "type", "veth", "peer", "name", UniqueName("gkp")});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] {
    auto link = watcher_->FindLink(dev);
    return link && link->ifindex != old_ifindex;
  }));
  EXPECT_EQ(watcher_->FindLink(dev)->ifindex, KernelIfindex(*netns_, dev));
  EXPECT_THAT(watcher_->Addresses(dev, AddressFilter::kAll), IsEmpty());
  EXPECT_FALSE(Has(dev, "192.0.2.10"));
  EXPECT_FALSE(Has(dev, "2001:db8::10"));

  netns_->Ip({"addr", "add", "192.0.2.11/24", "dev", dev});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return Has(dev, "192.0.2.11"); }));
  EXPECT_FALSE(Has(dev, "192.0.2.10"));
}

// A receive buffer of a few KiB holds two or three messages; hundreds of changes made while the
// watcher is not reading overflow it for certain. Afterwards its table must match the kernel's.
TEST_F(LinkWatcherTest, OverflowResyncsToExactlyTheKernelState) {
  const std::string keep = AddVeth(/*up=*/true);
  const std::string gone = AddVeth();
  const std::string renewed = AddVeth();
  const std::string reused = AddVeth();
  netns_->Ip({"addr", "add", "192.0.2.1/24", "dev", keep});
  netns_->Ip({"addr", "add", "192.0.2.2/24", "dev", gone});
  netns_->Ip({"addr", "add", "192.0.2.3/24", "dev", renewed});
  netns_->Ip({"addr", "add", "192.0.2.4/24", "dev", reused});
  StartWatcher({.rcvbuf_bytes = 1});  // the kernel raises it to its minimum
  const int renewed_ifindex = watcher_->FindLink(renewed)->ifindex;
  const int reused_ifindex = watcher_->FindLink(reused)->ifindex;

  // Links are slow to delete (about 20 ms each), addresses cheap: a few links, many addresses.
  constexpr int kLinks = 20;
  constexpr int kKeptLinks = 5;
  constexpr int kAddresses = 150;
  std::vector<std::string> batch;
  std::vector<std::string> flood;
  for (int i = 0; i < kLinks; ++i) {
    flood.push_back(UniqueName("gkf"));
    batch.push_back(
        absl::StrCat("link add name ", flood[i], " type veth peer name ", UniqueName("gkg")));
    batch.push_back(absl::StrCat("addr add 203.0.113.", i + 1, "/32 dev ", flood[i]));
  }
  for (int i = 0; i < kLinks - kKeptLinks; ++i) {
    batch.push_back(absl::StrCat("link del dev ", flood[i]));
  }
  for (int i = 0; i < kAddresses; ++i) {
    batch.push_back(absl::StrCat("addr add 203.0.113.", 100 + i, "/32 dev ", keep));
  }
  for (int i = 0; i < kAddresses; i += 2) {
    batch.push_back(absl::StrCat("addr del 203.0.113.", 100 + i, "/32 dev ", keep));
  }
  batch.push_back(absl::StrCat("link del dev ", gone));
  batch.push_back(absl::StrCat("link del dev ", renewed));
  batch.push_back(
      absl::StrCat("link add name ", renewed, " type veth peer name ", UniqueName("gkp")));
  batch.push_back(absl::StrCat("addr add 198.51.100.3/24 dev ", renewed));
  batch.push_back(absl::StrCat("link del dev ", reused));
  batch.push_back(absl::StrCat("link add name ", reused, " index ", reused_ifindex,
                               " type veth peer name ", UniqueName("gkp")));
  batch.push_back(absl::StrCat("addr del 192.0.2.1/24 dev ", keep));
  batch.push_back(absl::StrCat("addr add 192.0.2.101/24 dev ", keep));
  batch.push_back(absl::StrCat("addr add 2001:db8::99/64 dev ", keep, " nodad"));
  IpBatch(*netns_, batch);

  const std::set<std::string> kernel_links = KernelLinks(*netns_);
  const std::set<std::string> kernel_addresses = KernelAddresses(*netns_);
  ASSERT_TRUE(ProcessUntil(*watcher_,
                           [&] {
                             return watcher_->resyncs() > 0 &&
                                    WatcherLinks(*watcher_) == kernel_links &&
                                    WatcherAddresses(*watcher_) == kernel_addresses;
                           }))
      << "links: " << absl::StrJoin(WatcherLinks(*watcher_), ", ")
      << "\nkernel: " << absl::StrJoin(kernel_links, ", ");
  EXPECT_GT(changes_, 0);
  std::printf(
      "resyncs: %llu; the last one repaired %zu differences, e.g. %s\n",
      static_cast<unsigned long long>(watcher_->resyncs()), watcher_->last_resync_changes().size(),
      watcher_->last_resync_changes().empty() ? "none"
                                              : watcher_->last_resync_changes().front().c_str());

  for (int i = 0; i < kLinks; ++i) {
    EXPECT_EQ(watcher_->FindLink(flood[i]).has_value(), i >= kLinks - kKeptLinks) << flood[i];
  }
  EXPECT_TRUE(Has(flood[kLinks - 1], "203.0.113.20"));
  EXPECT_FALSE(Has(keep, "203.0.113.100"));
  EXPECT_TRUE(Has(keep, "203.0.113.101"));
  EXPECT_FALSE(watcher_->FindLink(gone).has_value());
  EXPECT_NE(watcher_->FindLink(renewed)->ifindex, renewed_ifindex);
  EXPECT_FALSE(Has(renewed, "192.0.2.3"));
  EXPECT_TRUE(Has(renewed, "198.51.100.3"));
  EXPECT_EQ(watcher_->FindLink(reused)->ifindex, reused_ifindex);
  EXPECT_FALSE(Has(reused, "192.0.2.4")) << "a reused ifindex must not inherit old addresses";
  EXPECT_FALSE(Has(keep, "192.0.2.1"));
  EXPECT_TRUE(Has(keep, "192.0.2.101"));
  EXPECT_TRUE(Has(keep, "2001:db8::99"));

  // Events flow again after the resync.
  netns_->Ip({"addr", "add", "192.0.2.5/24", "dev", reused});
  ASSERT_TRUE(ProcessUntil(*watcher_, [&] { return Has(reused, "192.0.2.5"); }));
}

}  // namespace
}  // namespace gatekeeper::testing
