#include "config/credentials.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "config/text_util.h"
#include "config/values.h"

namespace gatekeeper::config {
namespace {

bool IsAllDigits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

absl::StatusOr<UserRef> ResolveUser(std::string_view text, UserResolver& resolver) {
  if (IsAllDigits(text)) {
    std::optional<uint32_t> id = ParseNumericId(text);
    if (!id.has_value())
      return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not a valid uid"));
    return UserRef{std::string(text), *id};
  }
  if (absl::Status status = CheckUserOrGroupName(text); !status.ok()) return status;
  std::optional<uid_t> uid = resolver.Uid(text);
  if (!uid.has_value()) return absl::NotFoundError(absl::StrCat("no such user ", Quote(text)));
  return UserRef{std::string(text), *uid};
}

absl::StatusOr<GroupRef> ResolveGroup(std::string_view text, UserResolver& resolver) {
  if (IsAllDigits(text)) {
    std::optional<uint32_t> id = ParseNumericId(text);
    if (!id.has_value())
      return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not a valid gid"));
    return GroupRef{std::string(text), *id};
  }
  if (absl::Status status = CheckUserOrGroupName(text); !status.ok()) return status;
  std::optional<gid_t> gid = resolver.Gid(text);
  if (!gid.has_value()) return absl::NotFoundError(absl::StrCat("no such group ", Quote(text)));
  return GroupRef{std::string(text), *gid};
}

}  // namespace gatekeeper::config
