// export_hf.h: writes a quantized graph as a Hugging Face folder that
// transformers, vLLM and awqc load: config.json with quantization_config,
// model.safetensors (AutoAWQ "GEMM" tensors for INT4, awqc's packed layout for
// INT3, everything else as F32), and the tokenizer files.
#ifndef AWQC_EXPORT_HF_H
#define AWQC_EXPORT_HF_H

#include "ir/ir.h"
#include "quantizer/awq_driver.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    const char *method;     // "awq" or "rtn", recorded in awqc_quantize.json
    int bits, group;
    const char *source;     // the checkpoint quantized (recorded)
    size_t calib_tokens;    // 0 for RTN
    int calib_seqlen;
    bool duo, clip;
} ExportInfo;

// Writes the folder out_dir from g (weights already fake-quantized by
// awq_quantize_graph, rep->codes holding their codes) and tok. Weight names
// are the graph weights' Hugging Face names; Q and K rows stored permuted
// for "pairs" rotary (GGUF) are put back in Hugging Face order. The folder is
// built beside out_dir and renamed into place only when complete (replacing
// an earlier out_dir); on failure nothing is left and err says why.
bool quant_export_hf(const Graph *g, const Tokenizer *tok, const QuantReport *rep, const ExportInfo *info,
                     const char *out_dir, AwqcError *err);

#endif
