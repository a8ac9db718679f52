/*
 * A GP TEE Client API program for ta-hello: opens a session, has the TA increment a value,
 * prints it. Written against the standard API only: it builds against OP-TEE's libteec or
 * LiteBox's (platform_targets/optee/client), and talks to the TA wherever that library reaches.
 *   hello_client [VALUE]     (socket: $LITEBOX_OPTEE_SOCKET with LiteBox's library)
 */
#include <stdio.h>
#include <stdlib.h>
#include <tee_client_api.h>

#define TA_HELLO_UUID { 0x8aaaf200, 0x2450, 0x11e4, { 0xab, 0xe2, 0x00, 0x02, 0xa5, 0xd5, 0xc5, 0x1b } }
#define CMD_INC 0

int main(int argc, char **argv)
{
	TEEC_Context ctx;
	TEEC_Session sess;
	TEEC_Operation op = { 0 };
	TEEC_UUID uuid = TA_HELLO_UUID;
	uint32_t origin;
	TEEC_Result res;

	res = TEEC_InitializeContext(NULL, &ctx);
	if (res != TEEC_SUCCESS) {
		fprintf(stderr, "TEEC_InitializeContext failed with code 0x%x\n", res);
		return 1;
	}
	res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
	if (res != TEEC_SUCCESS) {
		fprintf(stderr, "TEEC_OpenSession failed with code 0x%x origin 0x%x\n", res, origin);
		return 1;
	}
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].value.a = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 42;
	printf("Invoking TA to increment %u\n", op.params[0].value.a);
	res = TEEC_InvokeCommand(&sess, CMD_INC, &op, &origin);
	if (res != TEEC_SUCCESS) {
		fprintf(stderr, "TEEC_InvokeCommand failed with code 0x%x origin 0x%x\n", res, origin);
		return 1;
	}
	printf("TA incremented value to %u\n", op.params[0].value.a);
	TEEC_CloseSession(&sess);
	TEEC_FinalizeContext(&ctx);
	return 0;
}
