/* ta-ecdsa's identity and resources (read by the SDK's user_ta_header.c). */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <user_ta_header.h>

/* A UUID of our own (LiteBox's ECDSA example). */
#define TA_UUID { 0x6b3c1f52, 0x0c7e, 0x4a8e, { 0x9d, 0x51, 0x3f, 0x2a, 0x71, 0x0e, 0x5c, 0x84 } }
#define TA_FLAGS (TA_FLAG_SINGLE_INSTANCE | TA_FLAG_MULTI_SESSION)
#define TA_STACK_SIZE (8 * 1024)
#define TA_DATA_SIZE (64 * 1024)

#endif
