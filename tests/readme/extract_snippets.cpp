// Extracts the C++ snippets of a Markdown file (every ```cpp or ```c++ fenced
// block) into one translation unit, so that compiling it checks that the
// README's examples compile. Each snippet gets its own namespace, and `#line`
// directives make compiler errors point at the README's lines.
//
//   extract_snippets README.md readme_snippets.cpp
//
// How a snippet is wrapped:
// - A fragment of statements (the default) becomes the body of a function
//   `void snippet()`, which is compiled but never run.
// - A snippet that defines `int main(` is a whole program, and a snippet
//   preceded by `<!-- snippet: declarations -->` holds namespace-scope
//   declarations (templates, say): either is kept at namespace scope.
// - `#include` lines are hoisted to the top of the file (so one snippet's
//   includes are visible to the others).
// - What a snippet presupposes without showing it is given in HTML comments
//   (invisible in the rendered README) on the lines just before the fence:
//   `<!-- snippet-context: tyche::Tensor x{1.0, 2.0}, y{0.5, 1.5}; -->` puts
//   that code before the snippet, in the same scope. One comment per line;
//   the code may not contain `--` (HTML comments cannot).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Snippet {
  int first_line = 0;  // README line number of the snippet's first line
  std::vector<std::string> lines;
  std::vector<std::string> context;
  bool namespace_scope = false;
};

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The code of a `<!-- snippet-context: CODE -->` line, or of `<!-- snippet:
// WORD -->` (returned with its key), or nothing.
struct Directive {
  std::string key, text;
};
bool parse_directive(std::string_view line, Directive& out) {
  line = trim(line);
  if (!starts_with(line, "<!--") || line.size() < 7 || line.substr(line.size() - 3) != "-->") return false;
  const std::string_view body = trim(line.substr(4, line.size() - 7));
  const auto colon = body.find(':');
  if (colon == std::string_view::npos) return false;
  out.key = std::string(trim(body.substr(0, colon)));
  out.text = std::string(trim(body.substr(colon + 1)));
  return out.key == "snippet" || out.key == "snippet-context";
}

bool is_cpp_fence(std::string_view line) {
  line = trim(line);
  return line == "```cpp" || line == "```c++" || line == "```C++";
}

std::vector<Snippet> extract(std::istream& in, const std::string& source_name) {
  std::vector<std::string> readme;
  for (std::string line; std::getline(in, line);) readme.push_back(line);

  std::vector<Snippet> snippets;
  for (std::size_t i = 0; i < readme.size(); ++i) {
    if (!is_cpp_fence(readme[i])) continue;
    Snippet snippet;
    for (std::size_t j = i; j > 0; --j) {  // the directives directly above the fence
      Directive d;
      if (!parse_directive(readme[j - 1], d)) break;
      if (d.key == "snippet-context") snippet.context.insert(snippet.context.begin(), d.text);
      else if (d.text == "declarations") snippet.namespace_scope = true;
      else throw std::runtime_error(source_name + ":" + std::to_string(j) + ": unknown directive `<!-- snippet: " +
                                    d.text + " -->` (known: `snippet: declarations`, `snippet-context: CODE`)");
    }
    const std::size_t indent = readme[i].find_first_not_of(" \t");
    snippet.first_line = int(i) + 2;
    for (++i; i < readme.size() && trim(readme[i]) != "```"; ++i)
      snippet.lines.push_back(readme[i].size() >= indent ? readme[i].substr(indent) : std::string(trim(readme[i])));
    if (i == readme.size())
      throw std::runtime_error(source_name + ":" + std::to_string(snippet.first_line - 1) +
                               ": the ```cpp block is never closed");
    for (const std::string& line : snippet.lines)
      if (starts_with(trim(line), "int main(")) snippet.namespace_scope = true;
    snippets.push_back(std::move(snippet));
  }
  return snippets;
}

std::string quoted(const std::string& path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string translation_unit(std::vector<Snippet> snippets, const std::string& source_path) {
  std::ostringstream out;
  out << "// Generated from " << source_path << " by tests/readme/extract_snippets.cpp: do not edit.\n";
  std::vector<std::string> includes;
  for (Snippet& s : snippets)
    for (std::string& line : s.lines)
      if (starts_with(trim(line), "#include")) {
        const std::string include(trim(line));
        bool seen = false;
        for (const std::string& i : includes) seen = seen || i == include;
        if (!seen) includes.push_back(include);
        line.clear();  // kept as an empty line so that the line numbers still match
      }
  for (const std::string& include : includes) out << include << "\n";

  for (std::size_t k = 0; k < snippets.size(); ++k) {
    const Snippet& s = snippets[k];
    out << "\nnamespace readme_snippet_" << k + 1 << " {\n";
    if (!s.namespace_scope) out << "[[maybe_unused]] void snippet() {\n";
    for (const std::string& code : s.context) out << code << "\n";
    out << "#line " << s.first_line << " " << quoted(source_path) << "\n";
    for (const std::string& line : s.lines) out << line << "\n";
    if (!s.namespace_scope) out << "}\n";
    out << "}  // namespace readme_snippet_" << k + 1 << "\n";
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: extract_snippets README.md output.cpp\n";
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    if (!in) throw std::runtime_error(std::string("cannot read ") + argv[1]);
    const std::vector<Snippet> snippets = extract(in, argv[1]);
    if (snippets.empty()) throw std::runtime_error(std::string(argv[1]) + " has no ```cpp snippet");
    const std::string text = translation_unit(snippets, argv[1]);
    // Rewritten only when it changes, so that an unrelated README edit
    // does not recompile the snippets.
    std::ifstream previous(argv[2]);
    std::ostringstream old;
    old << previous.rdbuf();
    if (previous && old.str() == text) return 0;
    std::ofstream out(argv[2]);
    if (!(out << text)) throw std::runtime_error(std::string("cannot write ") + argv[2]);
    std::printf("extract_snippets: %zu snippets from %s\n", snippets.size(), argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "extract_snippets: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
