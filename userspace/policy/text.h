// The text an access-list entry carries: where it came from (SharedText) and the token as
// written (Token). A list of a million entries copies these into every entry and every compiled
// rule, so neither may cost a heap block per entry.
#ifndef GATEKEEPER_POLICY_TEXT_H_
#define GATEKEEPER_POLICY_TEXT_H_

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"

namespace gatekeeper::policy {

// Immutable text shared by reference count, one pointer wide. All entries of one assignment
// share their file name and key instead of holding a copy each. Compares by content.
class SharedText {
 public:
  SharedText() = default;
  // Implicit, so that it is assigned and compared like the std::string it replaces.
  SharedText(std::string_view text);   // NOLINT(google-explicit-constructor)
  SharedText(const std::string& text)  // NOLINT(google-explicit-constructor)
      : SharedText(std::string_view(text)) {}
  SharedText(const char* text)  // NOLINT(google-explicit-constructor)
      : SharedText(std::string_view(text)) {}

  SharedText(const SharedText& other) noexcept : block_(other.block_) { Ref(); }
  SharedText(SharedText&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  SharedText& operator=(const SharedText& other) noexcept {
    SharedText copy(other);
    std::swap(block_, copy.block_);
    return *this;
  }
  SharedText& operator=(SharedText&& other) noexcept {
    if (this != &other) {
      Unref();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  ~SharedText() { Unref(); }

  // Text that is never freed and so needs no counting: copies cost no atomic operation. Only
  // for a fixed set of texts (the keys), as each call allocates for good.
  static SharedText Immortal(std::string_view text);

  std::string_view view() const {
    return block_ == nullptr ? std::string_view() : std::string_view(block_->chars(), block_->size);
  }
  std::string str() const { return std::string(view()); }
  const char* data() const { return view().data(); }
  size_t size() const { return block_ == nullptr ? 0 : block_->size; }
  bool empty() const { return size() == 0; }

  friend bool operator==(const SharedText& a, const SharedText& b) {
    return a.block_ == b.block_ || a.view() == b.view();
  }
  friend std::strong_ordering operator<=>(const SharedText& a, const SharedText& b) {
    return a.view() <=> b.view();
  }
  friend std::ostream& operator<<(std::ostream& out, const SharedText& text);

 private:
  struct Block {
    std::atomic<uint32_t> refs;
    bool immortal;
    size_t size;
    const char* chars() const { return reinterpret_cast<const char*>(this + 1); }
  };

  void Ref() const {
    if (block_ != nullptr && !block_->immortal) {
      block_->refs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void Unref();

  Block* block_ = nullptr;  // null for the empty text
};

// An entry's token as written ("192.0.2.7/24", "localhost"). Up to kInline characters (IPv4
// tokens as people write them, and most IPv6 ones) are held in place; longer ones get a heap
// block.
// It is an absl::string_view of its own characters, so that it still goes wherever the
// std::string it replaces went (absl::StrCat, ==, printing). Assign, do not mutate the view.
class Token : public absl::string_view {
 public:
  static constexpr size_t kInline = 24;

  Token() noexcept : absl::string_view(inline_, 0), inline_{} {}
  Token(std::string_view text) { Init(text); }  // NOLINT(google-explicit-constructor)
#ifndef ABSL_USES_STD_STRING_VIEW
  Token(absl::string_view text) {  // NOLINT(google-explicit-constructor)
    Init(std::string_view(text.data(), text.size()));
  }
#endif
  Token(const std::string& text) { Init(text); }  // NOLINT(google-explicit-constructor)
  Token(const char* text) { Init(text); }         // NOLINT(google-explicit-constructor)

  Token(const Token& other) : absl::string_view(other) { CopyFrom(other); }
  Token(Token&& other) noexcept { Steal(other); }
  Token& operator=(const Token& other) {
    if (this != &other) {
      Release();
      CopyFrom(other);
    }
    return *this;
  }
  Token& operator=(Token&& other) noexcept {
    if (this != &other) {
      Release();
      Steal(other);
    }
    return *this;
  }
  ~Token() { Release(); }

  std::string_view view() const { return {data(), size()}; }
#ifndef ABSL_USES_STD_STRING_VIEW
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
#endif

  // As with the std::string it replaces, e.g. token + " allow".
  friend std::string operator+(const Token& token, std::string_view text) {
    std::string out(token.view());
    out.append(text);
    return out;
  }
  friend std::string operator+(std::string_view text, const Token& token) {
    std::string out(text);
    out.append(token.view());
    return out;
  }

  friend void PrintTo(const Token& token, std::ostream* out);

 private:
  // Moving or cutting the view would break the rule that says where the characters are.
  using absl::string_view::remove_prefix;
  using absl::string_view::remove_suffix;
  using absl::string_view::swap;

  bool on_heap() const { return size() > kInline; }
  void SetView(const char* chars, size_t size) {
    static_cast<absl::string_view&>(*this) = absl::string_view(chars, size);
  }
  void Init(std::string_view text);
  // Inline text is copied as the whole buffer: fixed-size moves instead of a memcpy() call, as
  // every compiled rule copies its entry's token.
  void CopyFrom(const Token& other) {
    if (other.on_heap()) {
      Init(other.view());
      return;
    }
    std::memcpy(inline_, other.inline_, kInline);
    SetView(inline_, other.size());
  }
  void Steal(Token& other) noexcept;
  void Release() noexcept {
    if (on_heap()) delete[] heap_;
  }

  union {
    char inline_[kInline];
    char* heap_;
  };
};

}  // namespace gatekeeper::policy

#endif  // GATEKEEPER_POLICY_TEXT_H_
