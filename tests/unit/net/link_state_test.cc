#include "net/link_state.h"

#include <linux/if.h>
#include <linux/if_addr.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatekeeper::net {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

policy::Address Ip(const char* text) { return *policy::Address::Parse(text); }

Link MakeLink(const char* name, int ifindex, uint32_t flags = IFF_UP | IFF_RUNNING) {
  return Link{.name = name, .ifindex = ifindex, .flags = flags};
}

AddressInfo MakeAddress(const char* ip, uint8_t prefix_len, uint32_t flags = 0) {
  return AddressInfo{.address = Ip(ip), .prefix_len = prefix_len, .flags = flags};
}

TEST(LinkTest, FlagAccessors) {
  // A WireGuard device: up and running, no carrier flag semantics needed, operstate UNKNOWN (0).
  Link wg = MakeLink("wg0", 5, IFF_UP | IFF_RUNNING | IFF_POINTOPOINT | IFF_NOARP);
  EXPECT_TRUE(wg.admin_up());
  EXPECT_TRUE(wg.running());
  EXPECT_FALSE(wg.lower_up());
  Link down = MakeLink("v0", 6, IFF_BROADCAST);
  EXPECT_FALSE(down.admin_up());
  EXPECT_FALSE(down.running());
}

TEST(AddressInfoTest, TentativeAndDadFailedAreNotUsable) {
  EXPECT_TRUE(MakeAddress("2001:db8::1", 64).usable());
  EXPECT_TRUE(MakeAddress("2001:db8::1", 64, IFA_F_NODAD | IFA_F_PERMANENT).usable());
  EXPECT_FALSE(MakeAddress("2001:db8::1", 64, IFA_F_TENTATIVE).usable());
  EXPECT_FALSE(MakeAddress("2001:db8::1", 64, IFA_F_TENTATIVE | IFA_F_OPTIMISTIC).usable());
  EXPECT_FALSE(MakeAddress("2001:db8::1", 64, IFA_F_DADFAILED | IFA_F_TENTATIVE).usable());
  EXPECT_EQ(MakeAddress("2001:db8::1", 64, IFA_F_TENTATIVE).ToString(), "2001:db8::1/64 tentative");
  EXPECT_EQ(MakeAddress("192.0.2.1", 24).ToString(), "192.0.2.1/24");
}

TEST(LinkStateTest, FindsLinksByName) {
  LinkState state;
  EXPECT_TRUE(state.UpsertLink(MakeLink("wg0", 5)));
  EXPECT_FALSE(state.UpsertLink(MakeLink("wg0", 5)));  // same again: no change
  ASSERT_TRUE(state.FindLink("wg0").has_value());
  EXPECT_EQ(state.FindLink("wg0")->ifindex, 5);
  EXPECT_FALSE(state.FindLink("wg1").has_value());
  EXPECT_FALSE(state.FindLink("wg").has_value());
}

TEST(LinkStateTest, FlagChangeIsAChange) {
  LinkState state;
  state.UpsertLink(MakeLink("wg0", 5, 0));
  EXPECT_TRUE(state.UpsertLink(MakeLink("wg0", 5, IFF_UP)));
  EXPECT_TRUE(state.FindLink("wg0")->admin_up());
}

TEST(LinkStateTest, RenameFollowsTheName) {
  LinkState state;
  state.UpsertLink(MakeLink("eth0", 3));
  state.UpsertAddress(3, MakeAddress("192.0.2.1", 24));
  // Same ifindex, new name: the old name is gone, the addresses go with the device.
  state.UpsertLink(MakeLink("wan", 3));
  EXPECT_FALSE(state.FindLink("eth0").has_value());
  EXPECT_FALSE(state.HasAddress("eth0", Ip("192.0.2.1")));
  EXPECT_TRUE(state.HasAddress("wan", Ip("192.0.2.1")));
}

TEST(LinkStateTest, AddressesFollowTheCurrentIfindex) {
  LinkState state;
  state.UpsertLink(MakeLink("wg0", 5));
  state.UpsertAddress(5, MakeAddress("192.0.2.1", 24));
  EXPECT_TRUE(state.HasAddress("wg0", Ip("192.0.2.1")));

  // wg0 deleted and created again: the new ifindex has none of the old addresses.
  EXPECT_TRUE(state.RemoveLink(5));
  EXPECT_FALSE(state.HasAddress("wg0", Ip("192.0.2.1")));
  state.UpsertLink(MakeLink("wg0", 9));
  EXPECT_EQ(state.FindLink("wg0")->ifindex, 9);
  EXPECT_THAT(state.Addresses("wg0", AddressFilter::kAll), IsEmpty());
  state.UpsertAddress(9, MakeAddress("198.51.100.1", 24));
  EXPECT_TRUE(state.HasAddress("wg0", Ip("198.51.100.1")));
  EXPECT_FALSE(state.HasAddress("wg0", Ip("192.0.2.1")));
}

TEST(LinkStateTest, ReusedIfindexDoesNotInheritAddresses) {
  LinkState state;
  state.UpsertLink(MakeLink("wg0", 7));
  state.UpsertAddress(7, MakeAddress("192.0.2.1", 24));
  // The DELADDR events were lost; DELLINK alone must forget the addresses.
  state.RemoveLink(7);
  state.UpsertLink(MakeLink("wg0", 7));  // `ip link add wg0 index 7 ...`
  EXPECT_FALSE(state.HasAddress("wg0", Ip("192.0.2.1")));
}

TEST(LinkStateTest, AddressBeforeItsLinkIsFoundOnceTheLinkAppears) {
  LinkState state;
  state.UpsertAddress(4, MakeAddress("203.0.113.7", 24));
  EXPECT_FALSE(state.HasAddress("v0", Ip("203.0.113.7")));
  state.UpsertLink(MakeLink("v0", 4));
  EXPECT_TRUE(state.HasAddress("v0", Ip("203.0.113.7")));
}

TEST(LinkStateTest, TentativeAddressIsAbsentUntilDadCompletes) {
  LinkState state;
  state.UpsertLink(MakeLink("v0", 4));
  EXPECT_TRUE(state.UpsertAddress(4, MakeAddress("2001:db8::1", 64, IFA_F_TENTATIVE)));
  EXPECT_FALSE(state.HasAddress("v0", Ip("2001:db8::1")));
  EXPECT_THAT(state.Addresses("v0"), IsEmpty());
  EXPECT_THAT(state.Addresses("v0", AddressFilter::kAll), ElementsAre(testing::_));
  // DAD done: the same address (same key) with the flag cleared replaces it.
  EXPECT_TRUE(state.UpsertAddress(4, MakeAddress("2001:db8::1", 64, IFA_F_PERMANENT)));
  EXPECT_TRUE(state.HasAddress("v0", Ip("2001:db8::1")));
  EXPECT_EQ(state.Addresses("v0", AddressFilter::kAll).size(), 1u);
}

TEST(LinkStateTest, RemoveAddressMatchesTheKernelKey) {
  LinkState state;
  state.UpsertLink(MakeLink("v0", 4));
  state.UpsertAddress(4, MakeAddress("192.0.2.1", 24));
  state.UpsertAddress(4, MakeAddress("192.0.2.1", 32));
  AddressInfo ptp = MakeAddress("192.0.2.1", 32);
  ptp.peer = Ip("192.0.2.2");
  state.UpsertAddress(4, ptp);
  EXPECT_EQ(state.Addresses("v0").size(), 3u);

  EXPECT_FALSE(state.RemoveAddress(4, MakeAddress("192.0.2.1", 16)));
  EXPECT_FALSE(state.RemoveAddress(5, MakeAddress("192.0.2.1", 24)));
  EXPECT_TRUE(state.RemoveAddress(4, MakeAddress("192.0.2.1", 24)));
  EXPECT_TRUE(state.HasAddress("v0", Ip("192.0.2.1")));  // the /32s are still there
  EXPECT_TRUE(state.RemoveAddress(4, MakeAddress("192.0.2.1", 32)));
  EXPECT_TRUE(state.RemoveAddress(4, ptp));
  EXPECT_FALSE(state.HasAddress("v0", Ip("192.0.2.1")));
}

TEST(LinkStateTest, IPv4AndIPv6AreDistinct) {
  LinkState state;
  state.UpsertLink(MakeLink("v0", 4));
  state.UpsertAddress(4, MakeAddress("2001:db8::c000:201", 64));
  EXPECT_FALSE(state.HasAddress("v0", Ip("192.0.2.1")));
  EXPECT_TRUE(state.HasAddress("v0", Ip("2001:db8::c000:201")));
}

TEST(LinkStateTest, DuplicateNameDuringABurstPrefersTheNewestLink) {
  LinkState state;
  state.UpsertLink(MakeLink("wg0", 9));
  state.UpsertLink(MakeLink("wg0", 5));  // an older event replayed after a newer dump
  EXPECT_EQ(state.FindLink("wg0")->ifindex, 9);
  state.RemoveLink(5);  // ...and its deletion follows in the same burst
  EXPECT_EQ(state.FindLink("wg0")->ifindex, 9);
}

TEST(DescribeChangesTest, NamesEveryVisibleDifference) {
  LinkState before;
  before.UpsertLink(MakeLink("wg0", 5));
  before.UpsertAddress(5, MakeAddress("192.0.2.1", 24));
  before.UpsertLink(MakeLink("old", 6));
  before.UpsertLink(MakeLink("v0", 7, 0));

  LinkState after;
  after.UpsertLink(MakeLink("wg0", 9));
  after.UpsertAddress(9, MakeAddress("198.51.100.1", 24));
  after.UpsertLink(MakeLink("new", 10));
  after.UpsertLink(MakeLink("v0", 7, IFF_UP));

  EXPECT_THAT(DescribeChanges(before, before), IsEmpty());
  EXPECT_THAT(
      DescribeChanges(before, after),
      UnorderedElementsAre(
          "link new (ifindex 10, up, running) appeared", "link old gone (was ifindex 6)",
          "link v0 flags 0x0 -> 0x1, operstate 0 -> 0", "link wg0 re-created (ifindex 5 -> 9)",
          "wg0: address 192.0.2.1/24 gone", "wg0: address 198.51.100.1/24 new"));
}

}  // namespace
}  // namespace gatekeeper::net
