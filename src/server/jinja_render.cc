// Jinja evaluation: the tree over a JSON context, as @huggingface/jinja renders it.
#include "core/error.h"
#include "server/jinja.h"

namespace tf::jinja {

namespace {

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

}  // namespace

void render(const Node& root, const json& context, std::string& out) { Renderer(context).run(root, out); }

}  // namespace tf::jinja
