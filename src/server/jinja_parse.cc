// Jinja parsing: a tag's tokens into expressions, the template's pieces into statements.
#include "core/error.h"
#include "server/jinja.h"

namespace tf::jinja {

namespace {

// ---- expressions

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

// ---- statements

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

}  // namespace

NodePtr parse(std::vector<Item> items) { return TemplateParser(std::move(items)).parse(); }

}  // namespace tf::jinja
