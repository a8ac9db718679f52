/* ta-escape's identity (an escape probe for the optee target; see escape_ta.c). */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include <user_ta_header.h>

#define TA_UUID { 0x3e5c0a7d, 0x51b2, 0x4c1e, { 0x9a, 0x44, 0x6d, 0x0b, 0x2f, 0x81, 0x5e, 0x17 } }
#define TA_FLAGS (TA_FLAG_SINGLE_INSTANCE | TA_FLAG_MULTI_SESSION)
#define TA_STACK_SIZE (4 * 1024)
#define TA_DATA_SIZE (32 * 1024)

#endif
