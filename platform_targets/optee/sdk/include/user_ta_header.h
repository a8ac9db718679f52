/* The TA header (section .ta_head) as OP-TEE's loader reads it, and the TA flags. */
#ifndef USER_TA_HEADER_H
#define USER_TA_HEADER_H

#include <tee_api_types.h>

#define TA_FLAG_SINGLE_INSTANCE     (1 << 2)
#define TA_FLAG_MULTI_SESSION       (1 << 3)
#define TA_FLAG_INSTANCE_KEEP_ALIVE (1 << 4)
#define TA_FLAG_SECURE_DATA_PATH    (1 << 5)
#define TA_FLAG_EXEC_DDR            0
#define TA_FLAG_USER_MODE           0

struct ta_head {
	TEE_UUID uuid;
	uint32_t stack_size;
	uint32_t flags;
	uint64_t depr_entry;
};

#endif
