// link.h: object file to shared object (link.c).
#ifndef AWQC_CODEGEN_LINK_H
#define AWQC_CODEGEN_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

// Links obj into a shared object; *so is heap memory. False with err naming
// the linker and its first complaint.
bool link_shared_object(const uint8_t *obj, size_t obj_size, uint8_t **so, size_t *so_size, AwqcError *err);

#endif
