#include "activation/command_line.h"

#include <optional>
#include <string_view>

namespace gatekeeper::activation {
namespace {

// systemd's WHITESPACE, the separators when a "$NAME" value is split.
constexpr std::string_view kWhitespace = " \t\n\r";

std::optional<std::string_view> Lookup(const std::vector<std::string>& environment,
                                       std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (auto it = environment.rbegin(); it != environment.rend(); ++it) {
    const std::string_view entry = *it;
    if (entry.size() > name.size() && entry[name.size()] == '=' && entry.starts_with(name)) {
      return entry.substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

// systemd's strv_split_full(WHITESPACE, EXTRACT_RELAX | EXTRACT_UNQUOTE): no C escapes, and an
// unclosed quote or a trailing backslash simply ends the last word.
void AppendSplit(std::string_view value, std::vector<std::string>& out) {
  std::optional<std::string> word;  // begun (possibly empty, as for '') or not
  char quote = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\') {
      if (!word) word.emplace();
      if (++i < value.size()) word->push_back(value[i]);
    } else if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word->push_back(c);
      }
    } else if (c == '\'' || c == '"') {
      if (!word) word.emplace();
      quote = c;
    } else if (kWhitespace.find(c) != std::string_view::npos) {
      if (word) out.push_back(*std::move(word));
      word.reset();
    } else {
      if (!word) word.emplace();
      word->push_back(c);
    }
  }
  if (word) out.push_back(*std::move(word));
}

// systemd's replace_env() without flags: only "${NAME}" and "$$".
std::string ReplaceInWord(std::string_view word, const std::vector<std::string>& environment) {
  std::string out;
  size_t i = 0;
  while (i < word.size()) {
    if (word[i] != '$' || i + 1 == word.size()) {
      out.push_back(word[i++]);
      continue;
    }
    if (word[i + 1] == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (word[i + 1] != '{') {
      out.push_back(word[i++]);
      continue;
    }
    // The name ends at the first '}'. A ':' before it is shell syntax (${A:-b}) that systemd
    // expands only in other settings: the text up to it stays as written, as does an unclosed
    // "${".
    const size_t end = word.find_first_of("}:", i + 2);
    if (end == std::string_view::npos) {
      out.append(word.substr(i));
      break;
    }
    if (word[end] == ':') {
      out.append(word.substr(i, end + 1 - i));
    } else {
      out.append(Lookup(environment, word.substr(i + 2, end - i - 2)).value_or(""));
    }
    i = end + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> ExpandCommandLine(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& environment) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& word : argv) {
    if (word.starts_with('$') && (word.size() == 1 || (word[1] != '{' && word[1] != '$'))) {
      // The whole rest of the word is the name: "$A.b" looks up "A.b", which is never set.
      if (std::optional<std::string_view> value = Lookup(environment, word.substr(1))) {
        AppendSplit(*value, out);
      }
      continue;
    }
    out.push_back(ReplaceInWord(word, environment));
  }
  return out;
}

}  // namespace gatekeeper::activation
