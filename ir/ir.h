// ir.h: the graph IR, the single source of truth shared by the quantizer, the
// passes, the code generators and the reference interpreter. A Graph is a list
// of nodes in topological order (SSA: each node defines one tensor value), a
// table of named weights, graph-level metadata (hyper-parameters), and layer
// blocks ("layer.7.attn") that group nodes so tools can address them.
// This header is the module map of ir/: builder.c (construction and shape
// inference), verify.c, print.c, parse.c; scale_groups.c (the AWQ scale-group
// pattern, shared by the quantizer and the folding pass) has its own header.
#ifndef AWQC_IR_H
#define AWQC_IR_H

#include <stdio.h>

#include "common/util.h"
#include "ir/qmatrix.h"

// ----------------------------------------------------------------------------
// types

typedef enum {
    DT_F32,  // 32-bit float
    DT_F16,  // IEEE half
    DT_BF16, // bfloat16
    DT_I32,  // token ids
    DT_Q4,   // 4-bit group-quantized weight (group size in Type.group)
    DT_Q3,   // 3-bit group-quantized weight
    DT_Q8,   // 8-bit group-quantized weight (a quantized lm_head, passes/quantize_head.c)
    DT_COUNT
} DType;

// A dimension is a constant or a symbol: T = tokens in this step, P = tokens
// already in the KV cache.
typedef enum { DIM_CONST, DIM_T, DIM_P } DimKind;
typedef struct {
    DimKind kind;
    int64_t size; // when kind == DIM_CONST
} Dim;

#define IR_MAX_RANK 4
typedef struct {
    DType dtype;
    int group; // group size for DT_Q4/DT_Q3/DT_Q8, else 0
    int rank;
    Dim dims[IR_MAX_RANK];
} Type;

// ----------------------------------------------------------------------------
// ops

typedef enum {
    OP_INPUT,      // graph input; attr name="tokens"; no operands
    OP_EMBEDDING,  // (table[V, D], ids[T]) -> [T, D]
    OP_RMS_NORM,   // (x[T, D], w[D]) eps -> [T, D]
    OP_LAYER_NORM, // (x[T, D], w[D], b[D]?) eps -> [T, D]
    OP_LINEAR,     // (x[T, K], W[N, K], bias[N]?) -> [T, N]
    OP_ROPE,       // (x[T, H*hd]) heads, head_dim, theta, mode -> same shape
    OP_ATTENTION,  // (q[T, H*hd], k[T, Hkv*hd], v[T, Hkv*hd]) heads, kv_heads, head_dim -> [T, H*hd]; causal, with KV cache
    OP_SILU,       // elementwise
    OP_GELU,       // elementwise (tanh approximation)
    OP_RELU,       // elementwise
    OP_ADD,        // (a, b) same shape -> same
    OP_MUL,        // (a, b) same shape -> same
    OP_SOFTMAX,    // over the last dim
    OP_AWQ_SCALE,  // (x[T, D], s[D]) -> x / s per channel: AWQ scales not yet folded into the previous op
    OP_SLICE,      // (x[T, N]) offset, size -> x[:, offset : offset + size] (a piece of a merged linear)
    OP_PARAM,      // no operands; value, width -> f32[T, width]: value %value of the graph a filtered dump came from
    // Fused ops (made by the fuse pass; attr rule names the fusion):
    OP_RMS_NORM_LINEAR, // (x[T, K], g[K], W[N, K], bias[N]?) eps -> linear(rms_norm(x, g), W, bias)
    OP_ROPE_ATTENTION,  // (q, k, v) or (qkv) heads, kv_heads, head_dim, theta, mode -> attention(rope(q), rope(k), v)
    OP_SILU_MUL,        // (gate, up) -> silu(gate) * up; or (gate_up[T, 2F]) -> silu(first half) * second half
    OP_LINEAR_ADD,      // (x[T, K], W[N, K], r[T, N], bias[N]?) -> linear(x, W, bias) + r: residual in the epilogue
    OP_COUNT
} OpKind;

// RoPE modes: which elements form the rotated pairs within a head.
// "pairs": (2i, 2i+1), as GGUF's permuted Q/K weights expect;
// "halves": (i, i + hd/2), as Hugging Face weights expect.
typedef enum { ROPE_PAIRS, ROPE_HALVES } RopeMode;

// Attributes are named ints, floats or strings (eps, heads, theta, mode, ...).
typedef enum { ATTR_INT, ATTR_FLOAT, ATTR_STRING } AttrKind;
typedef struct {
    char *key;
    AttrKind kind;
    int64_t i;
    double f;
    char *s;
} Attr;

// An operand is an earlier node's value (%n) or a weight (@name).
typedef enum { OPND_NODE, OPND_WEIGHT } OperandKind;
typedef struct {
    OperandKind kind;
    int index; // node index or weight index
} Operand;

#define IR_MAX_OPERANDS 4
#define IR_MAX_ATTRS 8
typedef struct {
    OpKind op;
    int n_in;
    Operand in[IR_MAX_OPERANDS];
    int n_attrs;
    Attr attrs[IR_MAX_ATTRS];
    Type type;  // of the value this node defines
    int block;  // index into Graph.blocks, or -1 (top level)
    // Where ir_parse read the node ("%N" of its statement; line and column
    // 1-based, columns in UTF-8 characters), so the verifier can point there;
    // 0 when built in memory (a frontend, a pass's new node).
    int src_line, src_col;
} Node;

// A named weight tensor. data is bound by the frontend (f32 for the reference
// interpreter) or left NULL (a parsed dump, a shape-only lowering).
typedef struct {
    char *name;
    Type type;     // never symbolic
    float *data;   // n_elements floats when bound (dtype DT_F32), owned by the graph
    char *hf_name; // its Hugging Face name when the model description gives one
                   // (exporters write HF folders from GGUF sources with it), or NULL
    // A quantized weight (dtype DT_Q4/DT_Q3) is bound by its codes (quant) or,
    // after pack-weights, by a target layout's bytes (layout, packed); data may
    // then also hold the dequantized values, or be NULL.
    QuantMatrix *quant;  // owned, or NULL
    char *layout;        // packed layout name (ir/layout.h), or NULL when not packed
    uint8_t *packed;     // owned, packed_size bytes
    size_t packed_size;
    // data and packed point into memory the graph does not own (a mapped
    // artifact, runtime/artifact.h): ir_weight_release forgets them, never frees.
    bool borrowed;
} Weight;

typedef struct {
    char *key;
    Attr value; // value.key unused
} Meta;

typedef struct {
    char *name;
    char *origin; // the file ir_parse read it from (its name_for_errors), or NULL; owned
    Node *nodes;
    size_t n_nodes, cap_nodes;
    Weight *weights;
    size_t n_weights, cap_weights;
    char **blocks;
    size_t n_blocks, cap_blocks;
    Meta *meta;
    size_t n_meta, cap_meta;
    int *outputs; // node indices
    size_t n_outputs, cap_outputs;
} Graph;

// ----------------------------------------------------------------------------
// builder.c: construction, op schemas, shape inference

Graph *ir_graph_new(const char *name);
void ir_graph_free(Graph *g);

const char *ir_op_name(OpKind op);
bool ir_op_from_name(const char *name, OpKind *op);
const char *ir_dtype_name(DType dt);
// The code width of a quantized dtype (q4 4, q3 3, q8 8); 0 for any other.
int ir_dtype_bits(DType dt);
bool ir_dtype_from_name(const char *name, DType *dt);

// Type helpers.
Type ir_type_const(DType dt, int rank, const int64_t *dims); // all-constant shape
bool ir_type_equal(const Type *a, const Type *b);
int64_t ir_type_elements(const Type *t); // product of constant dims; -1 if symbolic
// The width of one row: the product of the constant dims after the first
// (the [T, W] value of a token has W floats per token; an [N, K] weight has
// rows of K); a rank-1 type's own constant size.
int64_t ir_row_width(const Type *t);
// Writes e.g. "f32[T, 576]" into buf; returns buf.
char *ir_type_str(const Type *t, char *buf, size_t cap);

// Attributes (keys are copied).
Attr ir_attr_int(const char *key, int64_t v);
Attr ir_attr_float(const char *key, double v);
Attr ir_attr_string(const char *key, const char *v);
// A deep copy (key and string value duplicated).
Attr ir_attr_copy(const Attr *a);
// Frees an attribute's key and string value (not the Attr itself).
void ir_attr_free(Attr *a);
const Attr *ir_node_attr(const Node *n, const char *key); // NULL if absent
int64_t ir_node_attr_int(const Node *n, const char *key, int64_t dflt);
double ir_node_attr_float(const Node *n, const char *key, double dflt);
const char *ir_node_attr_string(const Node *n, const char *key, const char *dflt);

// Returns the index of the named block, creating it if new.
int ir_block(Graph *g, const char *name);
int ir_find_block(const Graph *g, const char *name); // -1 if absent

// Adds a weight (name must be new); returns its index, or -1 with err on a
// duplicate name.
int ir_add_weight(Graph *g, const char *name, Type type, AwqcError *err);
int ir_find_weight(const Graph *g, const char *name); // -1 if absent
// Whether the weight has values: f32 data, quantized codes, or packed bytes.
bool ir_weight_bound(const Weight *w);
// Frees everything a weight owns but its name and hf_name (data, codes, packing).
void ir_weight_release(Weight *w);

// The type an operand refers to.
const Type *ir_operand_type(const Graph *g, Operand o);
static inline Operand ir_node_ref(int i) { return (Operand){OPND_NODE, i}; }
static inline Operand ir_weight_ref(int i) { return (Operand){OPND_WEIGHT, i}; }

// Infers the result type of op applied to the operands with the attributes,
// checking operand counts, required attributes and shapes. False with a
// message such as "linear: input has 576 features but weight [192, 512]
// expects 512" (no location: callers add theirs).
bool ir_infer_type(const Graph *g, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs,
                   Type *out, AwqcError *err);

// ir_infer_type's messages start with the op ("linear: ..."); callers that
// name the op themselves ("%3 = linear: ...") take the rest.
const char *ir_strip_op_prefix(const char *msg, OpKind op);

// Appends a node after inferring its type; attrs are moved into the node
// (their strings become owned by the graph). Returns the node index or -1.
int ir_add_node(Graph *g, OpKind op, const Operand *in, int n_in, const Attr *attrs, int n_attrs, int block,
                AwqcError *err);

void ir_add_output(Graph *g, int node);
// Rows of the smallest embedding table (token ids index every one), or -1
// when the graph has none.
int64_t ir_embedding_rows(const Graph *g);
void ir_set_meta(Graph *g, const char *key, Attr value); // replaces an existing key
const Meta *ir_get_meta(const Graph *g, const char *key);

// ----------------------------------------------------------------------------
// verify.c: structural checks (operands defined before use, types consistent
// with ir_infer_type, attrs present, outputs valid, weight data sizes).
// A message about a node names it, its op and, when it was parsed, its place:
// "t.ir:7:3: %5 = linear: ..."; otherwise "graph 'NAME': %5 = linear: ...".
bool ir_verify(const Graph *g, AwqcError *err);

// ----------------------------------------------------------------------------
// print.c / parse.c: the text form. print -> parse -> print is the identity.

// Prints the whole graph (header, metadata, weights, nodes grouped by block,
// outputs). Node values are numbered %0, %1, ... in order.
void ir_print(const Graph *g, FILE *out);
char *ir_print_to_string(const Graph *g); // heap string
// Parses the text form; errors are "name:line:col: message" with the line
// and a caret. Weights come back unbound (data NULL); the graph's origin is
// name_for_errors and each node keeps its line and column.
Graph *ir_parse(const char *text, const char *name_for_errors, AwqcError *err);

#endif
