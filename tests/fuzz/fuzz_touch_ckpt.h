// fuzz_touch_ckpt.h: what the checkpoint harnesses (fuzz_ckpt, fuzz_hf_folder)
// do with a checkpoint that opened: read every metadata value, the AWQ
// config, every tensor small enough to convert, and the codes of AWQ tensors.
#ifndef AWQC_FUZZ_TOUCH_CKPT_H
#define AWQC_FUZZ_TOUCH_CKPT_H

#include <stdlib.h>
#include <string.h>

#include "frontend/ckpt/checkpoint.h"
#include "fuzz_common.h"

#define FUZZ_MAX_ELEMENTS (1 << 22) // bounded by the file for loadable types anyway

static inline void fuzz_touch_metadata(const Checkpoint *c) {
    for (size_t i = 0; i < ckpt_meta_count(c); i++) {
        const char *key = ckpt_meta_key_at(c, i), *s;
        MetaArray a;
        double f;
        int64_t v;
        if (ckpt_meta_string(c, key, &s)) (void)strlen(s);
        if (ckpt_meta_float(c, key, &f)) (void)f;
        if (ckpt_meta_int(c, key, &v)) (void)v;
        if (ckpt_meta_array(c, key, &a) && a.len && a.elem_kind == META_STRING) (void)strlen(a.strs[a.len - 1]);
    }
    int bits, group;
    if (ckpt_awq_config(c, &bits, &group)) (void)(bits + group);
}

static inline void fuzz_touch_codes(const Checkpoint *c, const CkptTensor *t) {
    QuantMatrix m;
    AwqcError err;
    if (ckpt_load_codes(c, t, &m, &err)) quant_matrix_free(&m);
    else fuzz_note("codes", &err);
}

static inline void fuzz_touch_tensors(const Checkpoint *c) {
    for (size_t i = 0; i < ckpt_tensor_count(c); i++) {
        const CkptTensor *t = ckpt_tensor_at(c, i);
        AwqcError err;
        if (ckpt_find_tensor(c, t->name) == NULL) abort(); // every listed tensor is found by its name
        if (!ckpt_tensor_loadable(t)) {
            ckpt_load_f32(c, t, NULL, &err); // refused without touching dst
            continue;
        }
        if (t->n_elements > FUZZ_MAX_ELEMENTS) continue;
        float *dst = malloc((size_t)t->n_elements * sizeof(float) + 1);
        ckpt_load_f32(c, t, dst, &err);
        free(dst);
        if (ckpt_tensor_is_awq(t)) fuzz_touch_codes(c, t);
        else (void)ckpt_raw_data(c, t);
    }
}

static inline void fuzz_touch_checkpoint(const Checkpoint *c) {
    fuzz_touch_metadata(c);
    fuzz_touch_tensors(c);
}

#endif
