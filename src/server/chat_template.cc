#include "server/chat_template.h"

#include <fstream>
#include <map>
#include <vector>

#include "core/error.h"

namespace tf {

using json = nlohmann::json;

namespace jinja {

// ---- lexing: the template into text and tags, a tag into tokens

// @huggingface/jinja's preprocessing (lstrip_blocks, trim_blocks, the final newline).
std::string preprocess(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (i == 0 || s[i - 1] == '\n') {  // a line start: spaces before a block tag go
      size_t k = i;
      while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
      if (k + 1 < s.size() && s[k] == '{' && (s[k + 1] == '#' || s[k + 1] == '%' || s[k + 1] == '-')) i = k;
    }
    out += s[i++];
  }
  std::string trimmed;
  for (size_t i = 0; i < out.size(); ++i) {
    trimmed += out[i];
    if (out[i] == '}' && i > 0 && (out[i - 1] == '%' || out[i - 1] == '#' || out[i - 1] == '-') && i + 1 < out.size() &&
        out[i + 1] == '\n')
      ++i;  // trim_blocks: the newline after a block tag goes
  }
  return trimmed;
}

struct Token {
  enum Kind { kName, kString, kNumber, kOp, kEnd } kind;
  std::string text;
  json number;
};

struct Item {  // a piece of the template
  enum Kind { kText, kOutput, kTag } kind;
  std::string text;
  std::vector<Token> tokens;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Tokens from s[i] up to the tag's close ("}}" or "%}", with an optional '-'); i ends past it.
std::vector<Token> lex_tag(const std::string& s, size_t& i, const char* close, bool& strip_after) {
  std::vector<Token> out;
  static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<",
                               ">",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|", "=", "!"};
  while (true) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) throw Error("chat template: a tag is not closed");
    if (s[i] == '-' && s.compare(i + 1, 2, close) == 0) {
      strip_after = true;
      i += 3;
      return out;
    }
    if (s.compare(i, 2, close) == 0) {
      i += 2;
      return out;
    }
    const char c = s[i];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t k = i;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
      out.push_back({Token::kName, s.substr(i, k - i), {}});
      i = k;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t k = i;
      while (k < s.size() && (std::isdigit(static_cast<unsigned char>(s[k])) || s[k] == '.')) ++k;
      const std::string t = s.substr(i, k - i);
      out.push_back({Token::kNumber, t, t.find('.') == std::string::npos ? json(std::stol(t)) : json(std::stod(t))});
      i = k;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t k = i + 1;
      for (; k < s.size() && s[k] != c; ++k) {
        if (s[k] != '\\' || k + 1 >= s.size()) {
          v += s[k];
          continue;
        }
        const char e = s[++k];
        v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      if (k >= s.size()) throw Error("chat template: a string is not closed");
      out.push_back({Token::kString, v, {}});
      i = k + 1;
    } else {
      bool found = false;
      for (const char* op : kOps)
        if (s.compare(i, std::strlen(op), op) == 0) {
          out.push_back({Token::kOp, op, {}});
          i += std::strlen(op);
          found = true;
          break;
        }
      if (!found) throw Error(std::string("chat template: unexpected character '") + c + "'");
    }
  }
}

std::vector<Item> lex(const std::string& source) {
  const std::string s = preprocess(source);
  std::vector<Item> items;
  bool strip_next = false;  // the previous tag ended with '-'
  size_t i = 0;
  auto add_text = [&](std::string t, bool strip_end) {
    if (strip_next) t.erase(0, std::find_if(t.begin(), t.end(), [](char c) { return !is_space(c); }) - t.begin());
    if (strip_end)
      while (!t.empty() && is_space(t.back())) t.pop_back();
    strip_next = false;
    if (!t.empty()) items.push_back({Item::kText, t, {}});
  };
  while (i < s.size()) {
    size_t open = i;
    while (open < s.size() && !(s[open] == '{' && open + 1 < s.size() && std::strchr("{%#", s[open + 1]))) ++open;
    if (open >= s.size()) {
      add_text(s.substr(i), false);
      break;
    }
    const char kind = s[open + 1];
    const bool strip_before = open + 2 < s.size() && s[open + 2] == '-';
    add_text(s.substr(i, open - i), strip_before);
    i = open + 2 + (strip_before ? 1 : 0);
    if (kind == '#') {
      const size_t end = s.find("#}", i);
      if (end == std::string::npos) throw Error("chat template: a comment is not closed");
      strip_next = end > 0 && s[end - 1] == '-';
      i = end + 2;
      continue;
    }
    bool strip_after = false;
    std::vector<Token> toks = lex_tag(s, i, kind == '{' ? "}}" : "%}", strip_after);
    items.push_back({kind == '{' ? Item::kOutput : Item::kTag, "", std::move(toks)});
    strip_next = strip_after;
  }
  return items;
}

// ---- expressions

struct Expr {
  enum Kind {
    kLiteral,
    kName,
    kAttr,
    kIndex,
    kSlice,
    kCall,
    kMethod,
    kFilter,
    kTest,
    kNot,
    kNeg,
    kBinary,
    kList,
    kDict,
    kIf
  } kind;
  json value;                               // kLiteral
  std::string name;                         // kName, kAttr, kCall, kMethod, kFilter, kTest; kBinary: the operator
  std::vector<std::unique_ptr<Expr>> args;  // operands, arguments (kSlice: obj, start, stop, step; null = none)
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  bool negated = false;  // kTest: "is not"
};
using ExprPtr = std::unique_ptr<Expr>;

ExprPtr make(Expr::Kind k, std::string name = "") {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->name = std::move(name);
  return e;
}

class ExprParser {
 public:
  explicit ExprParser(const std::vector<Token>& t, size_t pos = 0) : t_(t), i_(pos) {}
  ExprPtr parse() { return ternary(); }
  bool at_end() const { return i_ >= t_.size(); }
  bool is(const char* op) const { return i_ < t_.size() && t_[i_].kind != Token::kString && t_[i_].text == op; }
  bool accept(const char* op) {
    if (!is(op)) return false;
    ++i_;
    return true;
  }
  void expect(const char* op) {
    if (!accept(op))
      throw Error(std::string("chat template: expected '") + op + "'" +
                  (at_end() ? " at the end of a tag" : " before '" + t_[i_].text + "'"));
  }
  std::string name() {
    if (at_end() || t_[i_].kind != Token::kName) throw Error("chat template: expected a name");
    return t_[i_++].text;
  }

 private:
  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b) {
    auto e = make(Expr::kBinary, op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }
  ExprPtr ternary() {
    ExprPtr a = logic_or();
    if (is("if")) {  // a if cond else b
      ++i_;
      auto e = make(Expr::kIf);
      ExprPtr cond = logic_or();
      ExprPtr b = accept("else") ? ternary() : make(Expr::kLiteral);
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(a));
      e->args.push_back(std::move(b));
      if (e->args[2]->kind == Expr::kLiteral) e->args[2]->value = json();  // undefined-ish: renders ""
      return e;
    }
    return a;
  }
  ExprPtr logic_or() {
    ExprPtr a = logic_and();
    while (accept("or")) a = binary("or", std::move(a), logic_and());
    return a;
  }
  ExprPtr logic_and() {
    ExprPtr a = logic_not();
    while (accept("and")) a = binary("and", std::move(a), logic_not());
    return a;
  }
  ExprPtr logic_not() {
    if (accept("not")) {
      auto e = make(Expr::kNot);
      e->args.push_back(logic_not());
      return e;
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr a = additive();
    while (true) {
      if (is("==") || is("!=") || is("<") || is(">") || is("<=") || is(">=") || is("in")) {
        const std::string op = t_[i_++].text;
        a = binary(op, std::move(a), additive());
      } else if (is("not") && i_ + 1 < t_.size() && t_[i_ + 1].text == "in") {
        i_ += 2;
        auto e = make(Expr::kNot);
        e->args.push_back(binary("in", std::move(a), additive()));
        a = std::move(e);
      } else {
        return a;
      }
    }
  }
  ExprPtr additive() {
    ExprPtr a = multiplicative();
    while (is("+") || is("-") || is("~")) {
      const std::string op = t_[i_++].text;
      a = binary(op, std::move(a), multiplicative());
    }
    return a;
  }
  ExprPtr multiplicative() {
    ExprPtr a = unary();
    while (is("*") || is("/") || is("//") || is("%")) {
      const std::string op = t_[i_++].text;
      a = binary(op, std::move(a), unary());
    }
    return a;
  }
  ExprPtr unary() {
    if (accept("-")) {
      auto e = make(Expr::kNeg);
      e->args.push_back(unary());
      return e;
    }
    return postfix(primary());
  }
  void call_args(Expr& e) {
    if (accept(")")) return;
    do {
      if (i_ + 1 < t_.size() && t_[i_].kind == Token::kName && t_[i_ + 1].text == "=" &&
          t_[i_ + 1].kind == Token::kOp) {
        const std::string k = t_[i_].text;
        i_ += 2;
        e.kwargs.push_back({k, parse()});
      } else {
        e.args.push_back(parse());
      }
    } while (accept(","));
    expect(")");
  }
  ExprPtr postfix(ExprPtr a) {
    while (true) {
      if (accept(".")) {
        const std::string n = name();
        if (accept("(")) {
          auto e = make(Expr::kMethod, n);
          e->args.push_back(std::move(a));
          call_args(*e);
          a = std::move(e);
        } else {
          auto e = make(Expr::kAttr, n);
          e->args.push_back(std::move(a));
          a = std::move(e);
        }
      } else if (accept("[")) {
        ExprPtr parts[3];
        int colons = 0;
        for (;;) {
          if (is("]")) break;
          if (accept(":")) {
            if (++colons > 2) throw Error("chat template: a slice has at most two ':'");
            continue;
          }
          if (parts[colons]) throw Error("chat template: expected ':' or ']' in a subscript");
          parts[colons] = parse();
        }
        expect("]");
        if (colons == 0) {
          auto e = make(Expr::kIndex);
          e->args.push_back(std::move(a));
          e->args.push_back(std::move(parts[0]));
          a = std::move(e);
        } else {
          auto e = make(Expr::kSlice);
          e->args.push_back(std::move(a));
          for (auto& p : parts) e->args.push_back(std::move(p));
          a = std::move(e);
        }
      } else if (accept("(")) {
        if (a->kind != Expr::kName) throw Error("chat template: only named functions can be called");
        auto e = make(Expr::kCall, a->name);
        call_args(*e);
        a = std::move(e);
      } else if (accept("|")) {
        auto e = make(Expr::kFilter, name());
        e->args.push_back(std::move(a));
        if (accept("(")) call_args(*e);
        a = std::move(e);
      } else if (accept("is")) {
        auto e = make(Expr::kTest);
        e->negated = accept("not");
        e->name = is("none") || is("true") || is("false") ? t_[i_++].text : name();
        e->args.push_back(std::move(a));
        a = std::move(e);
      } else {
        return a;
      }
    }
  }
  ExprPtr primary() {
    if (at_end()) throw Error("chat template: an expression ends early");
    const Token& t = t_[i_++];
    if (t.kind == Token::kString || t.kind == Token::kNumber) {
      auto e = make(Expr::kLiteral);
      e->value = t.kind == Token::kString ? json(t.text) : t.number;
      // Adjacent strings concatenate, as in Python.
      while (t.kind == Token::kString && i_ < t_.size() && t_[i_].kind == Token::kString)
        e->value = e->value.get<std::string>() + t_[i_++].text;
      return e;
    }
    if (t.kind == Token::kName) {
      if (t.text == "true" || t.text == "True") return literal(true);
      if (t.text == "false" || t.text == "False") return literal(false);
      if (t.text == "none" || t.text == "None") return literal(nullptr);
      return make(Expr::kName, t.text);
    }
    if (t.text == "(") {
      ExprPtr e = parse();
      expect(")");
      return e;
    }
    if (t.text == "[") {
      auto e = make(Expr::kList);
      if (!accept("]")) {
        do e->args.push_back(parse());
        while (accept(","));
        expect("]");
      }
      return e;
    }
    if (t.text == "{") {
      auto e = make(Expr::kDict);
      if (!accept("}")) {
        do {
          e->args.push_back(parse());
          expect(":");
          e->args.push_back(parse());
        } while (accept(","));
        expect("}");
      }
      return e;
    }
    throw Error("chat template: unexpected '" + t.text + "'");
  }
  ExprPtr literal(json v) {
    auto e = make(Expr::kLiteral);
    e->value = std::move(v);
    return e;
  }

  const std::vector<Token>& t_;
  size_t i_;

 public:
  size_t pos() const { return i_; }
};

ExprPtr parse_expr(const std::vector<Token>& toks, size_t from = 0) {
  ExprParser p(toks, from);
  ExprPtr e = p.parse();
  if (!p.at_end()) throw Error("chat template: unexpected '" + toks[p.pos()].text + "' in an expression");
  return e;
}

}  // namespace jinja

namespace jinja {

// ---- statements

struct Node {
  enum Kind { kBlock, kText, kOutput, kIf, kFor, kSet } kind = kBlock;
  std::string text;                         // kText
  std::vector<ExprPtr> exprs;               // kOutput: the value; kIf: the conditions; kFor: the iterable; kSet
  std::vector<std::unique_ptr<Node>> kids;  // kBlock: the statements; kIf: the branches (+ else); kFor: body, else
  std::vector<std::string> names;           // kFor: the loop variables; kSet: the target (name, attribute)
};
using NodePtr = std::unique_ptr<Node>;

class TemplateParser {
 public:
  explicit TemplateParser(std::vector<Item> items) : items_(std::move(items)) {}
  NodePtr parse() {
    NodePtr root = block({});
    if (i_ < items_.size()) throw Error("chat template: unexpected {% " + items_[i_].tokens[0].text + " %}");
    return root;
  }

 private:
  // Statements until a tag whose keyword is in `ends` (left unread).
  NodePtr block(std::initializer_list<const char*> ends) {
    auto b = std::make_unique<Node>();
    while (i_ < items_.size()) {
      const Item& it = items_[i_];
      if (it.kind == Item::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::kText;
        n->text = it.text;
        b->kids.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (it.kind == Item::kOutput) {
        auto n = std::make_unique<Node>();
        n->kind = Node::kOutput;
        n->exprs.push_back(parse_expr(it.tokens));
        b->kids.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (it.tokens.empty()) throw Error("chat template: an empty {% %}");
      const std::string& kw = it.tokens[0].text;
      for (const char* e : ends)
        if (kw == e) return b;
      b->kids.push_back(statement(kw));
    }
    if (ends.size()) throw Error(std::string("chat template: missing {% ") + *ends.begin() + " %}");
    return b;
  }
  NodePtr statement(const std::string& kw) {
    const std::vector<Token>& toks = items_[i_].tokens;
    auto n = std::make_unique<Node>();
    if (kw == "if") {
      n->kind = Node::kIf;
      n->exprs.push_back(parse_expr(toks, 1));
      ++i_;
      n->kids.push_back(block({"endif", "elif", "else"}));
      while (items_[i_].tokens[0].text == "elif") {
        n->exprs.push_back(parse_expr(items_[i_].tokens, 1));
        ++i_;
        n->kids.push_back(block({"endif", "elif", "else"}));
      }
      if (items_[i_].tokens[0].text == "else") {
        ++i_;
        n->kids.push_back(block({"endif"}));
      }
      ++i_;  // endif
      return n;
    }
    if (kw == "for") {
      n->kind = Node::kFor;
      ExprParser p(toks, 1);
      n->names.push_back(p.name());
      while (p.accept(",")) n->names.push_back(p.name());
      p.expect("in");
      n->exprs.push_back(p.parse());
      if (!p.at_end()) throw Error("chat template: only `for x in expr` loops are supported");
      ++i_;
      n->kids.push_back(block({"endfor", "else"}));
      if (items_[i_].tokens[0].text == "else") {
        ++i_;
        n->kids.push_back(block({"endfor"}));
      }
      ++i_;
      return n;
    }
    if (kw == "set") {
      n->kind = Node::kSet;
      ExprParser p(toks, 1);
      n->names.push_back(p.name());
      if (p.accept(".")) n->names.push_back(p.name());
      if (!p.accept("=")) throw Error("chat template: {% set %} blocks are not supported, only {% set x = expr %}");
      n->exprs.push_back(p.parse());
      if (!p.at_end()) throw Error("chat template: unexpected tokens after {% set %}");
      ++i_;
      return n;
    }
    throw Error("chat template: {% " + kw + " %} is not supported");
  }

  std::vector<Item> items_;
  size_t i_ = 0;
};

// ---- values and evaluation

// A value: JSON, or undefined (a missing variable, key or attribute).
struct Value {
  json j;
  bool undefined = false;
};
Value undef() { return {json(), true}; }

bool truthy(const Value& v) {
  if (v.undefined || v.j.is_null()) return false;
  if (v.j.is_boolean()) return v.j.get<bool>();
  if (v.j.is_number()) return v.j.get<double>() != 0;
  if (v.j.is_string() || v.j.is_array() || v.j.is_object()) return !v.j.empty();
  return true;
}

std::string to_text(const Value& v) {
  if (v.undefined || v.j.is_null()) return "";
  if (v.j.is_string()) return v.j.get<std::string>();
  if (v.j.is_boolean()) return v.j.get<bool>() ? "true" : "false";
  return v.j.dump();
}

std::string strip(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t a = 0, b = s.size();
  if (left)
    while (a < b && chars.find(s[a]) != std::string::npos) ++a;
  if (right)
    while (b > a && chars.find(s[b - 1]) != std::string::npos) --b;
  return s.substr(a, b - a);
}
const std::string kWhitespace = " \t\n\r\f\v";

long index_of(long i, long n) { return i < 0 ? i + n : i; }

class Renderer {
 public:
  Renderer(const json& context) { scopes_.push_back(context); }
  void run(const Node& n, std::string& out);

 private:
  Value eval(const Expr& e);
  Value lookup(const std::string& name) const {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s)
      if (s->contains(name)) return {(*s)[name]};
    return undef();
  }
  json* find(const std::string& name) {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s)
      if (s->contains(name)) return &(*s)[name];
    return nullptr;
  }
  Value binary(const std::string& op, const Expr& a, const Expr& b);
  Value method(const Value& obj, const std::string& name, const std::vector<Value>& args);
  Value filter(const Value& v, const std::string& name, const std::vector<Value>& args);
  bool test(const Value& v, const std::string& name);

  std::vector<json> scopes_;  // innermost last; a for loop's body is a scope of its own
};

void Renderer::run(const Node& n, std::string& out) {
  switch (n.kind) {
    case Node::kBlock:
      for (const auto& k : n.kids) run(*k, out);
      return;
    case Node::kText:
      out += n.text;
      return;
    case Node::kOutput:
      out += to_text(eval(*n.exprs[0]));
      return;
    case Node::kIf:
      for (size_t b = 0; b < n.exprs.size(); ++b)
        if (truthy(eval(*n.exprs[b]))) return run(*n.kids[b], out);
      if (n.kids.size() > n.exprs.size()) run(*n.kids.back(), out);
      return;
    case Node::kFor: {
      Value seq = eval(*n.exprs[0]);
      json items = json::array();
      if (seq.j.is_array()) {
        items = seq.j;
      } else if (seq.j.is_object()) {
        for (auto it = seq.j.begin(); it != seq.j.end(); ++it)
          items.push_back(n.names.size() == 2 ? json::array({it.key(), it.value()}) : json(it.key()));
      } else if (seq.j.is_string()) {
        for (char c : seq.j.get<std::string>()) items.push_back(std::string(1, c));
      } else if (!seq.undefined && !seq.j.is_null()) {
        throw Error("chat template: cannot loop over " + seq.j.dump());
      }
      if (items.empty()) {
        if (n.kids.size() > 1) run(*n.kids[1], out);
        return;
      }
      const long L = long(items.size());
      for (long i = 0; i < L; ++i) {
        json scope = json::object();
        if (n.names.size() == 1) {
          scope[n.names[0]] = items[i];
        } else {
          for (size_t k = 0; k < n.names.size(); ++k) scope[n.names[k]] = items[i].at(k);
        }
        scope["loop"] = {{"index0", i},
                         {"index", i + 1},
                         {"first", i == 0},
                         {"last", i == L - 1},
                         {"length", L},
                         {"revindex", L - i},
                         {"revindex0", L - i - 1},
                         {"previtem", i > 0 ? items[i - 1] : json()},
                         {"nextitem", i + 1 < L ? items[i + 1] : json()}};
        scopes_.push_back(std::move(scope));
        run(*n.kids[0], out);
        scopes_.pop_back();
      }
      return;
    }
    case Node::kSet: {
      Value v = eval(*n.exprs[0]);
      if (n.names.size() == 1) {
        scopes_.back()[n.names[0]] = v.j;
        return;
      }
      json* ns = find(n.names[0]);
      if (!ns || !ns->is_object()) throw Error("chat template: " + n.names[0] + " is not a namespace");
      (*ns)[n.names[1]] = v.j;
      return;
    }
  }
}

Value Renderer::eval(const Expr& e) {
  switch (e.kind) {
    case Expr::kLiteral:
      return {e.value};
    case Expr::kName:
      return lookup(e.name);
    case Expr::kAttr:
    case Expr::kIndex: {
      const Value o = eval(*e.args[0]);
      const Value k = e.kind == Expr::kAttr ? Value{json(e.name)} : eval(*e.args[1]);
      if (o.j.is_object() && k.j.is_string()) {
        auto it = o.j.find(k.j.get<std::string>());
        return it == o.j.end() ? undef() : Value{*it};
      }
      if ((o.j.is_array() || o.j.is_string()) && k.j.is_number_integer()) {
        const long n = o.j.is_array() ? long(o.j.size()) : long(o.j.get<std::string>().size());
        const long i = index_of(k.j.get<long>(), n);
        if (i < 0 || i >= n) return undef();
        return o.j.is_array() ? Value{o.j[i]} : Value{json(std::string(1, o.j.get<std::string>()[i]))};
      }
      if (o.undefined && e.kind == Expr::kAttr) return undef();
      if (o.undefined) throw Error("chat template: indexing an undefined value");
      return undef();
    }
    case Expr::kSlice: {
      const Value o = eval(*e.args[0]);
      const bool str = o.j.is_string();
      if (!str && !o.j.is_array()) throw Error("chat template: slicing " + o.j.dump());
      const long n = str ? long(o.j.get<std::string>().size()) : long(o.j.size());
      auto arg = [&](int k, long def) {
        if (!e.args[k]) return def;
        const Value v = eval(*e.args[k]);
        return v.j.is_number_integer() ? v.j.get<long>() : def;
      };
      const long step = arg(3, 1);
      if (step == 0) throw Error("chat template: slice step 0");
      long start = arg(1, step > 0 ? 0 : n - 1), stop = arg(2, step > 0 ? n : -n - 1);
      auto clamp = [&](long i) {  // Python's slice bounds
        if (i < 0) i += n;
        return step > 0 ? std::clamp(i, 0L, n) : std::clamp(i, -1L, n - 1);
      };
      if (e.args[1]) start = clamp(start);
      stop = e.args[2] ? clamp(stop) : (step > 0 ? n : -1);
      json out = str ? json("") : json::array();
      for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (str)
          out = out.get<std::string>() + o.j.get<std::string>()[i];
        else
          out.push_back(o.j[i]);
      }
      return {out};
    }
    case Expr::kCall: {
      if (e.name == "raise_exception")
        throw Error("chat template: " + (e.args.empty() ? std::string("raise_exception") : to_text(eval(*e.args[0]))));
      if (e.name == "namespace") {
        json ns = json::object();
        for (const auto& [k, v] : e.kwargs) ns[k] = eval(*v).j;
        return {ns};
      }
      if (e.name == "range") {
        std::vector<long> a;
        for (const auto& x : e.args) a.push_back(eval(*x).j.get<long>());
        const long lo = a.size() > 1 ? a[0] : 0, hi = a.size() > 1 ? a[1] : a.at(0), st = a.size() > 2 ? a[2] : 1;
        json out = json::array();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) out.push_back(i);
        return {out};
      }
      throw Error("chat template: the function " + e.name + "() is not supported");
    }
    case Expr::kMethod:
    case Expr::kFilter: {
      const Value o = eval(*e.args[0]);
      std::vector<Value> args;
      for (size_t k = 1; k < e.args.size(); ++k) args.push_back(eval(*e.args[k]));
      return e.kind == Expr::kMethod ? method(o, e.name, args) : filter(o, e.name, args);
    }
    case Expr::kTest: {
      const bool r = test(eval(*e.args[0]), e.name);
      return {json(e.negated ? !r : r)};
    }
    case Expr::kNot:
      return {json(!truthy(eval(*e.args[0])))};
    case Expr::kNeg: {
      const Value v = eval(*e.args[0]);
      if (!v.j.is_number()) throw Error("chat template: negating " + v.j.dump());
      return {v.j.is_number_integer() ? json(-v.j.get<long>()) : json(-v.j.get<double>())};
    }
    case Expr::kBinary:
      return binary(e.name, *e.args[0], *e.args[1]);
    case Expr::kList: {
      json out = json::array();
      for (const auto& x : e.args) out.push_back(eval(*x).j);
      return {out};
    }
    case Expr::kDict: {
      json out = json::object();
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) out[to_text(eval(*e.args[k]))] = eval(*e.args[k + 1]).j;
      return {out};
    }
    case Expr::kIf:
      return truthy(eval(*e.args[0])) ? eval(*e.args[1]) : eval(*e.args[2]);
  }
  return undef();
}

Value Renderer::binary(const std::string& op, const Expr& ea, const Expr& eb) {
  if (op == "and") {
    Value a = eval(ea);
    return truthy(a) ? eval(eb) : a;
  }
  if (op == "or") {
    Value a = eval(ea);
    return truthy(a) ? a : eval(eb);
  }
  const Value a = eval(ea), b = eval(eb);
  if (op == "==") return {json(a.j == b.j && a.undefined == b.undefined)};
  if (op == "!=") return {json(!(a.j == b.j && a.undefined == b.undefined))};
  if (op == "in") {
    if (b.j.is_string() && a.j.is_string())
      return {json(b.j.get<std::string>().find(a.j.get<std::string>()) != std::string::npos)};
    if (b.j.is_array()) return {json(std::find(b.j.begin(), b.j.end(), a.j) != b.j.end())};
    if (b.j.is_object() && a.j.is_string()) return {json(b.j.contains(a.j.get<std::string>()))};
    if (b.undefined || b.j.is_null()) return {json(false)};
    throw Error("chat template: `in` over " + b.j.dump());
  }
  if (op == "~") return {json(to_text(a) + to_text(b))};
  if (op == "+" && (a.j.is_string() || b.j.is_string())) return {json(to_text(a) + to_text(b))};
  if (op == "+" && a.j.is_array() && b.j.is_array()) {
    json out = a.j;
    out.insert(out.end(), b.j.begin(), b.j.end());
    return {out};
  }
  if (!a.j.is_number() || !b.j.is_number())
    throw Error("chat template: " + (a.undefined ? std::string("undefined") : a.j.dump()) + " " + op + " " +
                (b.undefined ? std::string("undefined") : b.j.dump()));
  const bool ints = a.j.is_number_integer() && b.j.is_number_integer();
  const double x = a.j.get<double>(), y = b.j.get<double>();
  if (op == "<") return {json(x < y)};
  if (op == ">") return {json(x > y)};
  if (op == "<=") return {json(x <= y)};
  if (op == ">=") return {json(x >= y)};
  if (ints) {
    const long p = a.j.get<long>(), q = b.j.get<long>();
    if (op == "+") return {json(p + q)};
    if (op == "-") return {json(p - q)};
    if (op == "*") return {json(p * q)};
    if ((op == "%" || op == "//") && q == 0) throw Error("chat template: division by zero");
    if (op == "%") return {json(((p % q) + q) % q)};
    if (op == "//") return {json(long(std::floor(double(p) / double(q))))};
  }
  if (op == "+") return {json(x + y)};
  if (op == "-") return {json(x - y)};
  if (op == "*") return {json(x * y)};
  if (op == "/") return {json(x / y)};
  if (op == "%") return {json(std::fmod(x, y))};
  if (op == "//") return {json(std::floor(x / y))};
  throw Error("chat template: the operator " + op + " is not supported");
}

Value Renderer::method(const Value& o, const std::string& name, const std::vector<Value>& args) {
  auto arg = [&](size_t k) -> std::string {
    if (k >= args.size() || !args[k].j.is_string()) throw Error("chat template: " + name + "() wants a string");
    return args[k].j.get<std::string>();
  };
  if (o.j.is_string()) {
    const std::string s = o.j.get<std::string>();
    if (name == "startswith") return {json(s.starts_with(arg(0)))};
    if (name == "endswith") return {json(s.ends_with(arg(0)))};
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const std::string chars = args.empty() || args[0].j.is_null() ? kWhitespace : arg(0);
      return {json(strip(s, chars, name != "rstrip", name != "lstrip"))};
    }
    if (name == "upper" || name == "lower") {
      std::string t = s;
      for (char& c : t)
        c = char(name == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                 : std::tolower(static_cast<unsigned char>(c)));
      return {json(t)};
    }
    if (name == "split") {
      json out = json::array();
      if (args.empty() || args[0].j.is_null()) {
        std::istringstream in(s);
        for (std::string w; in >> w;) out.push_back(w);
        return {out};
      }
      const std::string sep = arg(0);
      if (sep.empty()) throw Error("chat template: split() with an empty separator");
      size_t from = 0;
      for (size_t at; (at = s.find(sep, from)) != std::string::npos; from = at + sep.size())
        out.push_back(s.substr(from, at - from));
      out.push_back(s.substr(from));
      return {out};
    }
    if (name == "replace") {
      const std::string a = arg(0), b = arg(1);
      std::string t;
      size_t from = 0;
      for (size_t at; !a.empty() && (at = s.find(a, from)) != std::string::npos; from = at + a.size())
        t += s.substr(from, at - from) + b;
      return {json(t + s.substr(from))};
    }
  }
  if (o.j.is_object()) {
    if (name == "get") {
      auto it = o.j.find(arg(0));
      return it != o.j.end() ? Value{*it} : (args.size() > 1 ? args[1] : Value{json()});
    }
    if (name == "items") {
      json out = json::array();
      for (auto it = o.j.begin(); it != o.j.end(); ++it) out.push_back({it.key(), it.value()});
      return {out};
    }
    if (name == "keys" || name == "values") {
      json out = json::array();
      for (auto it = o.j.begin(); it != o.j.end(); ++it) out.push_back(name == "keys" ? json(it.key()) : it.value());
      return {out};
    }
  }
  throw Error("chat template: the method ." + name + "() is not supported on " +
              (o.undefined ? std::string("undefined") : std::string(o.j.type_name())));
}

Value Renderer::filter(const Value& v, const std::string& name, const std::vector<Value>& args) {
  if (name == "trim") return method(v, "strip", {});
  if (name == "upper" || name == "lower") return method(v, name, {});
  if (name == "length" || name == "count") {
    if (v.j.is_string()) return {json(long(v.j.get<std::string>().size()))};
    if (v.j.is_array() || v.j.is_object()) return {json(long(v.j.size()))};
    throw Error("chat template: length of " + v.j.dump());
  }
  if (name == "string") return {json(to_text(v))};
  if (name == "tojson") return {json(v.j.dump())};
  if (name == "first" || name == "last") {
    if (!v.j.is_array() || v.j.empty()) return undef();
    return {name == "first" ? v.j.front() : v.j.back()};
  }
  if (name == "join") {
    const std::string sep = args.empty() ? "" : to_text(args[0]);
    std::string out;
    for (size_t i = 0; i < v.j.size(); ++i) out += (i ? sep : "") + to_text({v.j[i]});
    return {json(out)};
  }
  if (name == "default") return v.undefined ? (args.empty() ? Value{json("")} : args[0]) : v;
  throw Error("chat template: the filter |" + name + " is not supported");
}

bool Renderer::test(const Value& v, const std::string& name) {
  if (name == "defined") return !v.undefined;
  if (name == "undefined") return v.undefined;
  if (name == "none") return !v.undefined && v.j.is_null();
  if (name == "string") return v.j.is_string();
  if (name == "number") return v.j.is_number();
  if (name == "integer") return v.j.is_number_integer();
  if (name == "boolean") return v.j.is_boolean();
  if (name == "true") return v.j.is_boolean() && v.j.get<bool>();
  if (name == "false") return v.j.is_boolean() && !v.j.get<bool>();
  if (name == "mapping") return v.j.is_object();
  if (name == "iterable" || name == "sequence") return v.j.is_array() || v.j.is_string() || v.j.is_object();
  if (name == "odd" || name == "even") return v.j.is_number_integer() && (v.j.get<long>() % 2 != 0) == (name == "odd");
  throw Error("chat template: the test `is " + name + "` is not supported");
}

}  // namespace jinja

ChatTemplate::ChatTemplate(const std::string& source, json specials)
    : root_(jinja::TemplateParser(jinja::lex(source)).parse()), specials_(std::move(specials)) {}
ChatTemplate::~ChatTemplate() = default;

std::string ChatTemplate::render(const json& context) const {
  json ctx = specials_;
  for (auto it = context.begin(); it != context.end(); ++it) ctx[it.key()] = it.value();
  std::string out;
  jinja::Renderer(ctx).run(*root_, out);
  return out;
}

std::string ChatTemplate::render(const json& messages, bool add_generation_prompt) const {
  return render(json{{"messages", messages}, {"add_generation_prompt", add_generation_prompt}});
}

std::unique_ptr<ChatTemplate> load_chat_template(const std::string& model_dir) {
  const std::string path = model_dir + "/tokenizer_config.json";
  std::ifstream in(path);
  if (!in) return nullptr;
  json c;
  try {
    c = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  json t = c.value("chat_template", json());
  if (t.is_array()) {  // named templates: the default one
    json chosen;
    for (const auto& e : t)
      if (e.value("name", "") == "default") chosen = e.value("template", json());
    t = chosen;
  }
  if (!t.is_string()) return nullptr;
  json specials = json::object();
  for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    const json& v = c.value(k, json());
    if (v.is_string()) specials[k] = v;
    if (v.is_object() && v.contains("content")) specials[k] = v["content"];
  }
  try {
    return std::make_unique<ChatTemplate>(t.get<std::string>(), specials);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

}  // namespace tf
