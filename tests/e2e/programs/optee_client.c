/*
 * A GP TEE Client API program for the optee tests: drives ta-random, ta-aes, ta-storage or
 * ta-ecdsa (argv[1]) through libteec and prints one result line per step, so the test checks
 * the TA's answers as a client program sees them. Socket: $LITEBOX_OPTEE_SOCKET.
 */
#include <stdio.h>
#include <string.h>
#include <tee_client_api.h>

static const TEEC_UUID random_uuid = { 0xb6c53aba, 0x9669, 0x4668, { 0xa7, 0xf2, 0x20, 0x56, 0x29, 0xd0, 0x0f, 0x86 } };
static const TEEC_UUID aes_uuid = { 0x5dbac793, 0xf574, 0x4871, { 0x8a, 0xd3, 0x04, 0x33, 0x1e, 0xc1, 0x7f, 0x24 } };
static const TEEC_UUID storage_uuid = { 0xf4e750bb, 0x1437, 0x4fbf, { 0x87, 0x85, 0x8d, 0x35, 0x80, 0xc3, 0x49, 0x94 } };
static const TEEC_UUID ecdsa_uuid = { 0x6b3c1f52, 0x0c7e, 0x4a8e, { 0x9d, 0x51, 0x3f, 0x2a, 0x71, 0x0e, 0x5c, 0x84 } };

static TEEC_Context ctx;
static TEEC_Session sess;

static void hex(const char *label, const uint8_t *b, size_t n)
{
	printf("%s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static TEEC_Result invoke(uint32_t cmd, TEEC_Operation *op)
{
	uint32_t origin;
	TEEC_Result res = TEEC_InvokeCommand(&sess, cmd, op, &origin);
	printf("cmd %u: 0x%08x origin %u\n", cmd, res, origin);
	return res;
}

static int run_random(void)
{
	uint8_t buf[32] = { 0 };
	TEEC_Operation op = { 0 };
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = buf;
	op.params[0].tmpref.size = sizeof(buf);
	if (invoke(0, &op))
		return 1;
	printf("random size %zu\n", op.params[0].tmpref.size);
	hex("random", buf, sizeof(buf));
	return 0;
}

static int aes_pass(uint32_t mode, const uint8_t *in, uint8_t *out, int generate)
{
	static const uint8_t iv[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	TEEC_Operation op = { 0 };
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_NONE);
	op.params[0].value.a = 2; /* CTR */
	op.params[1].value.a = 32;
	op.params[2].value.a = mode;
	if (invoke(0, &op))
		return 1;
	if (generate) {
		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_NONE;
		if (invoke(4, &op))
			return 1;
	}
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = (void *)iv;
	op.params[0].tmpref.size = sizeof(iv);
	if (invoke(2, &op))
		return 1;
	/* The data travels in registered shared memory (TEEC_MEMREF_WHOLE / PARTIAL). */
	TEEC_SharedMemory src = { .size = 40, .flags = TEEC_MEM_INPUT }, dst = { .size = 40, .flags = TEEC_MEM_OUTPUT };
	if (TEEC_AllocateSharedMemory(&ctx, &src) || TEEC_AllocateSharedMemory(&ctx, &dst))
		return 1;
	memcpy(src.buffer, in, 40);
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].memref.parent = &src;
	op.params[1].memref.parent = &dst;
	op.params[1].memref.size = 40;
	TEEC_Result res = invoke(3, &op);
	memcpy(out, dst.buffer, 40);
	TEEC_ReleaseSharedMemory(&src);
	TEEC_ReleaseSharedMemory(&dst);
	return res != TEEC_SUCCESS;
}

static int run_aes(void)
{
	uint8_t plain[40], cipher[40], back[40];
	for (int i = 0; i < 40; i++)
		plain[i] = (uint8_t)('a' + i % 26);
	if (aes_pass(1, plain, cipher, 1) || aes_pass(0, cipher, back, 0))
		return 1;
	printf("aes changed %d roundtrip %d\n", memcmp(plain, cipher, 40) != 0, memcmp(plain, back, 40) == 0);
	return 0;
}

static int run_storage(void)
{
	TEEC_Operation op = { 0 };
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	if (invoke(3, &op))
		return 1;
	printf("counter %u\n", op.params[0].value.a);
	char id[] = "greeting", data[] = "hello, storage", out[64] = { 0 };
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = id;
	op.params[0].tmpref.size = strlen(id);
	op.params[1].tmpref.buffer = data;
	op.params[1].tmpref.size = strlen(data);
	if (invoke(1, &op))
		return 1;
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = id;
	op.params[0].tmpref.size = strlen(id);
	op.params[1].tmpref.buffer = out;
	op.params[1].tmpref.size = 4; /* too small: the TA says how much it needs */
	TEEC_Result res = invoke(0, &op);
	printf("short 0x%08x need %zu\n", res, op.params[1].tmpref.size);
	op.params[1].tmpref.size = sizeof(out);
	if (invoke(0, &op))
		return 1;
	printf("read %.*s\n", (int)op.params[1].tmpref.size, out);
	return 0;
}

static int run_ecdsa(void)
{
	uint8_t sig[64], msg[] = "message to sign";
	TEEC_Operation op = { 0 };
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].value.a = 256;
	if (invoke(0, &op))
		return 1;
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = msg;
	op.params[0].tmpref.size = sizeof(msg);
	op.params[1].tmpref.buffer = sig;
	op.params[1].tmpref.size = sizeof(sig);
	if (invoke(1, &op))
		return 1;
	printf("signature %zu bytes\n", op.params[1].tmpref.size);
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[1].tmpref.size = 64;
	invoke(2, &op);
	sig[5] ^= 1;
	invoke(2, &op);
	return 0;
}

int main(int argc, char **argv)
{
	const TEEC_UUID *uuid = NULL;
	uint32_t origin;
	int rc;

	if (argc != 2)
		return 2;
	if (!strcmp(argv[1], "random"))
		uuid = &random_uuid;
	else if (!strcmp(argv[1], "aes"))
		uuid = &aes_uuid;
	else if (!strcmp(argv[1], "storage"))
		uuid = &storage_uuid;
	else if (!strcmp(argv[1], "ecdsa"))
		uuid = &ecdsa_uuid;
	else
		return 2;
	if (TEEC_InitializeContext(NULL, &ctx) != TEEC_SUCCESS)
		return 3;
	TEEC_Result res = TEEC_OpenSession(&ctx, &sess, uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
	printf("open 0x%08x origin %u\n", res, origin);
	if (res != TEEC_SUCCESS)
		return 4;
	rc = !strcmp(argv[1], "random") ? run_random()
	   : !strcmp(argv[1], "aes") ? run_aes()
	   : !strcmp(argv[1], "storage") ? run_storage() : run_ecdsa();
	TEEC_CloseSession(&sess);
	TEEC_FinalizeContext(&ctx);
	return rc;
}
