/* OP-TEE's extensions header; TAs include it beside tee_internal_api.h. Nothing extra here. */
#ifndef TEE_INTERNAL_API_EXTENSIONS_H
#define TEE_INTERNAL_API_EXTENSIONS_H
#include <tee_internal_api.h>
#endif
