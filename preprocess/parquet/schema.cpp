// Schema flattening (see schema.h). Each OPTIONAL or REPEATED ancestor adds one definition level,
// each REPEATED one adds a repetition level; that is how a null struct (level 0) differs from a
// present struct with a null field (level 1) and a present value (level 2) in HF image columns.
#include "parquet/schema.h"

#include "core/error.h"

namespace omnitune::parquet {

namespace {

// Real schemas nest a handful of levels; this bounds recursion on hostile files.
constexpr int kMaxDepth = 64;

// ConvertedType / LogicalType numbers that mark a BYTE_ARRAY as text.
constexpr int32_t kConvertedUtf8 = 0, kConvertedEnum = 4, kConvertedJson = 19;
constexpr int32_t kLogicalString = 1, kLogicalEnum = 4, kLogicalJson = 12;

struct Flattener {
  const std::vector<SchemaElement>& schema;
  const std::string& context;
  size_t next = 1;  // index of the next element to consume; element 0 is the root
  std::vector<ColumnInfo> leaves;

  void add_children(int32_t count, const std::string& prefix, int def, int rep, int depth) {
    if (depth > kMaxDepth) OT_FAIL(context, ": schema nests deeper than ", kMaxDepth, " levels");
    for (int32_t i = 0; i < count; ++i) {
      if (next >= schema.size())
        OT_FAIL(context, ": schema is truncated: a group declares more children than the ",
                schema.size(), " schema elements hold");
      const SchemaElement& e = schema[next++];
      const std::string path = prefix.empty() ? e.name : prefix + "." + e.name;
      if (!e.has_repetition)
        OT_FAIL(context, ": schema element '", path, "' has no repetition type");
      int child_def = def, child_rep = rep;
      switch (e.repetition) {
        case static_cast<int32_t>(Repetition::Required): break;
        case static_cast<int32_t>(Repetition::Optional): child_def += 1; break;
        case static_cast<int32_t>(Repetition::Repeated):
          child_def += 1;
          child_rep += 1;
          break;
        default:
          OT_FAIL(context, ": schema element '", path, "' has invalid repetition type ",
                  e.repetition);
      }
      // Some writers put num_children = 0 on leaves; a type then says it is a leaf.
      if (e.has_num_children && !(e.num_children == 0 && e.has_type)) {
        if (e.num_children < 0)
          OT_FAIL(context, ": schema element '", path, "' has ", e.num_children, " children");
        add_children(e.num_children, path, child_def, child_rep, depth + 1);
      } else if (e.has_type) {
        leaves.push_back(make_leaf(e, path, child_def, child_rep));
      } else {
        OT_FAIL(context, ": schema element '", path, "' has neither a type nor children");
      }
    }
  }

  ColumnInfo make_leaf(const SchemaElement& e, const std::string& path, int def, int rep) const {
    ColumnInfo c;
    c.path = path;
    c.max_def_level = def;
    c.max_rep_level = rep;
    switch (e.type) {
      case 0: c.type = PhysicalType::Boolean; break;
      case 1: c.type = PhysicalType::Int32; break;
      case 2: c.type = PhysicalType::Int64; break;
      case 3: c.type = PhysicalType::Int96; break;
      case 4: c.type = PhysicalType::Float; break;
      case 5: c.type = PhysicalType::Double; break;
      case 6: c.type = PhysicalType::ByteArray; break;
      case 7: c.type = PhysicalType::FixedLenByteArray; break;
      default: OT_FAIL(context, ": column '", path, "' has unknown physical type ", e.type);
    }
    if (c.type == PhysicalType::FixedLenByteArray) {
      if (e.type_length <= 0)
        OT_FAIL(context, ": FIXED_LEN_BYTE_ARRAY column '", path, "' has type_length ",
                e.type_length);
      c.type_length = e.type_length;
    }
    if (c.type == PhysicalType::ByteArray) {
      const bool converted_text =
          e.has_converted_type && (e.converted_type == kConvertedUtf8 ||
                                   e.converted_type == kConvertedEnum ||
                                   e.converted_type == kConvertedJson);
      const bool logical_text = e.logical_type == kLogicalString ||
                                e.logical_type == kLogicalEnum || e.logical_type == kLogicalJson;
      c.is_string = converted_text || logical_text;
    }
    return c;
  }
};

}  // namespace

std::vector<ColumnInfo> flatten_schema(const std::vector<SchemaElement>& schema,
                                       const std::string& context) {
  if (schema.empty()) OT_FAIL(context, ": schema is empty");
  const SchemaElement& root = schema[0];
  if (!root.has_num_children || root.num_children < 0)
    OT_FAIL(context, ": schema root '", root.name, "' is not a group");
  Flattener f{schema, context, 1, {}};
  f.add_children(root.num_children, "", 0, 0, 1);
  if (f.next != schema.size())
    OT_FAIL(context, ": schema has ", schema.size() - f.next,
            " elements that belong to no group (corrupt child counts)");
  return std::move(f.leaves);
}

}  // namespace omnitune::parquet
