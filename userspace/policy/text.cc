#include "policy/text.h"

#include <cstring>
#include <new>
#include <ostream>

namespace gatekeeper::policy {

SharedText::SharedText(std::string_view text) {
  if (text.empty()) return;
  void* memory = ::operator new(sizeof(Block) + text.size());
  block_ = new (memory) Block{.refs = 1, .immortal = false, .size = text.size()};
  std::memcpy(reinterpret_cast<char*>(block_ + 1), text.data(), text.size());
}

SharedText SharedText::Immortal(std::string_view text) {
  SharedText out(text);
  if (out.block_ != nullptr) out.block_->immortal = true;
  return out;
}

void SharedText::Unref() {
  if (block_ == nullptr || block_->immortal) return;
  // acq_rel: the last owner must see every other owner's reads done before it frees the block.
  if (block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    block_->~Block();
    ::operator delete(block_);
  }
  block_ = nullptr;
}

std::ostream& operator<<(std::ostream& out, const SharedText& text) { return out << text.view(); }

void Token::Init(std::string_view text) {
  if (text.size() > kInline) {
    heap_ = new char[text.size()];
    std::memcpy(heap_, text.data(), text.size());
    SetView(heap_, text.size());
    return;
  }
  // All of the buffer is set, so that copies can take it whole (see CopyFrom()).
  std::memset(inline_, 0, kInline);
  if (!text.empty()) std::memcpy(inline_, text.data(), text.size());
  SetView(inline_, text.size());
}

void Token::Steal(Token& other) noexcept {
  if (other.on_heap()) {
    heap_ = other.heap_;
    SetView(heap_, other.size());
  } else {
    std::memcpy(inline_, other.inline_, kInline);
    SetView(inline_, other.size());
  }
  other.SetView(other.inline_, 0);
}

void PrintTo(const Token& token, std::ostream* out) { *out << '"' << token.view() << '"'; }

}  // namespace gatekeeper::policy
