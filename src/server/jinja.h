// The Jinja subset of chat templates (chat_template.h says which), inside the server layer:
// jinja_lex.cc cuts a template into text and tags and a tag into tokens, jinja_parse.cc parses
// them into a tree of statements and expressions, jinja_render.cc evaluates the tree over a
// JSON context. Each stage throws Error naming what it does not support.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tf::jinja {

using json = nlohmann::json;

// ---- lexing

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

// The template as text pieces and tags, after @huggingface/jinja's preprocessing.
std::vector<Item> lex(const std::string& source);

// ---- the tree

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

struct Node {
  enum Kind { kBlock, kText, kOutput, kIf, kFor, kSet } kind = kBlock;
  std::string text;                         // kText
  std::vector<ExprPtr> exprs;               // kOutput: the value; kIf: the conditions; kFor: the iterable; kSet
  std::vector<std::unique_ptr<Node>> kids;  // kBlock: the statements; kIf: the branches (+ else); kFor: body, else
  std::vector<std::string> names;           // kFor: the loop variables; kSet: the target (name, attribute)
};
using NodePtr = std::unique_ptr<Node>;

// The template's tree: its statements in order (a kBlock).
NodePtr parse(std::vector<Item> items);

// ---- rendering

// Appends the tree rendered over context (the template's variables) to out.
void render(const Node& root, const json& context, std::string& out);

}  // namespace tf::jinja
