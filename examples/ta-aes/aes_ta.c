/*
 * ta-aes: AES with the contract of OP-TEE's aes example (command 0 PREPARE: algorithm 0 ECB,
 * 1 CBC, 2 CTR; key size in bytes; mode 1 encrypt, 0 decrypt; command 1 SET_KEY; command 2
 * SET_IV; command 3 CIPHER input -> output), plus command 4 GENERATE_KEY (a fresh key made in
 * the TA, never shown), command 5 DIGEST (value: 1 SHA-1, 256, 384 or 512; input -> output)
 * command 6 HMAC-SHA-256 (key, message -> output) and command 7 RSA (value: a the GP algorithm,
 * b 0 encrypt / 1 decrypt; the key as modulus n followed by private exponent d, both of the
 * modulus size, e = 65537; input -> output), so known-answer vectors can be checked through the
 * TEE Internal Core API.
 */
#include <tee_internal_api.h>

struct aes_state {
	uint32_t algo, mode, key_size, have_key;
	TEE_OperationHandle op;
	TEE_ObjectHandle key;
};

static const uint32_t algos[] = { TEE_ALG_AES_ECB_NOPAD, TEE_ALG_AES_CBC_NOPAD, TEE_ALG_AES_CTR };

#define PT(a, b, c, d) TEE_PARAM_TYPES(TEE_PARAM_TYPE_##a, TEE_PARAM_TYPE_##b, TEE_PARAM_TYPE_##c, TEE_PARAM_TYPE_##d)

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t t, TEE_Param p[4], void **ctx)
{
	(void)t;
	(void)p;
	struct aes_state *s = TEE_Malloc(sizeof(*s), TEE_MALLOC_FILL_ZERO);
	if (!s)
		return TEE_ERROR_OUT_OF_MEMORY;
	*ctx = s;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *ctx)
{
	struct aes_state *s = ctx;
	TEE_FreeOperation(s->op);
	TEE_FreeTransientObject(s->key);
	TEE_Free(s);
}

static TEE_Result prepare(struct aes_state *s, uint32_t types, TEE_Param p[4])
{
	if (types != PT(VALUE_INPUT, VALUE_INPUT, VALUE_INPUT, NONE) || p[0].value.a > 2)
		return TEE_ERROR_BAD_PARAMETERS;
	s->algo = algos[p[0].value.a];
	s->mode = p[2].value.a ? TEE_MODE_ENCRYPT : TEE_MODE_DECRYPT;
	TEE_FreeOperation(s->op);
	s->op = TEE_HANDLE_NULL;
	/* A key of the same size (set or generated before) stays: decrypt what was encrypted. */
	if (s->key && p[1].value.a != s->key_size) {
		TEE_FreeTransientObject(s->key);
		s->key = TEE_HANDLE_NULL;
		s->have_key = 0;
	}
	s->key_size = p[1].value.a;
	TEE_Result res = TEE_AllocateOperation(&s->op, s->algo, s->mode, s->key_size * 8);
	if (res != TEE_SUCCESS)
		return res;
	if (!s->key)
		return TEE_AllocateTransientObject(TEE_TYPE_AES, s->key_size * 8, &s->key);
	return s->have_key ? TEE_SetOperationKey(s->op, s->key) : TEE_SUCCESS;
}

static TEE_Result set_key(struct aes_state *s, const void *key, size_t len)
{
	TEE_Attribute attr;
	if (!s->op || len != s->key_size)
		return TEE_ERROR_BAD_STATE;
	TEE_InitRefAttribute(&attr, TEE_ATTR_SECRET_VALUE, key, len);
	TEE_ResetTransientObject(s->key);
	TEE_Result res = TEE_PopulateTransientObject(s->key, &attr, 1);
	if (res != TEE_SUCCESS)
		return res;
	s->have_key = 1;
	TEE_ResetOperation(s->op);
	return TEE_SetOperationKey(s->op, s->key);
}

static TEE_Result digest(uint32_t types, TEE_Param p[4])
{
	uint32_t algo;
	TEE_OperationHandle op;
	if (types != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	switch (p[0].value.a) {
	case 1: algo = TEE_ALG_SHA1; break;
	case 256: algo = TEE_ALG_SHA256; break;
	case 384: algo = TEE_ALG_SHA384; break;
	case 512: algo = TEE_ALG_SHA512; break;
	default: return TEE_ERROR_NOT_SUPPORTED;
	}
	TEE_Result res = TEE_AllocateOperation(&op, algo, TEE_MODE_DIGEST, 0);
	if (res != TEE_SUCCESS)
		return res;
	size_t n = p[2].memref.size;
	res = TEE_DigestDoFinal(op, p[1].memref.buffer, p[1].memref.size, p[2].memref.buffer, &n);
	p[2].memref.size = n;
	TEE_FreeOperation(op);
	return res;
}

static TEE_Result hmac(uint32_t types, TEE_Param p[4])
{
	TEE_OperationHandle op;
	TEE_ObjectHandle key;
	TEE_Attribute attr;
	if (types != PT(MEMREF_INPUT, MEMREF_INPUT, MEMREF_OUTPUT, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	size_t bits = p[0].memref.size * 8;
	TEE_Result res = TEE_AllocateTransientObject(TEE_TYPE_HMAC_SHA256, bits < 512 ? 512 : bits, &key);
	if (res != TEE_SUCCESS)
		return res;
	TEE_InitRefAttribute(&attr, TEE_ATTR_SECRET_VALUE, p[0].memref.buffer, p[0].memref.size);
	res = TEE_PopulateTransientObject(key, &attr, 1);
	if (res == TEE_SUCCESS)
		res = TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA256, TEE_MODE_MAC, bits < 512 ? 512 : bits);
	if (res == TEE_SUCCESS) {
		res = TEE_SetOperationKey(op, key);
		if (res == TEE_SUCCESS) {
			size_t n = p[2].memref.size;
			TEE_MACInit(op, NULL, 0);
			TEE_MACUpdate(op, p[1].memref.buffer, p[1].memref.size);
			res = TEE_MACComputeFinal(op, NULL, 0, p[2].memref.buffer, &n);
			p[2].memref.size = n;
		}
		TEE_FreeOperation(op);
	}
	TEE_FreeTransientObject(key);
	return res;
}

static TEE_Result rsa(uint32_t types, TEE_Param p[4])
{
	static const uint8_t e[] = { 1, 0, 1 };
	TEE_OperationHandle op;
	TEE_ObjectHandle key;
	TEE_Attribute attrs[3];
	if (types != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_OUTPUT) || p[1].memref.size % 2)
		return TEE_ERROR_BAD_PARAMETERS;
	size_t k = p[1].memref.size / 2;
	const uint8_t *nd = p[1].memref.buffer;
	TEE_Result res = TEE_AllocateTransientObject(TEE_TYPE_RSA_KEYPAIR, k * 8, &key);
	if (res != TEE_SUCCESS)
		return res;
	TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_MODULUS, nd, k);
	TEE_InitRefAttribute(&attrs[1], TEE_ATTR_RSA_PUBLIC_EXPONENT, e, sizeof(e));
	TEE_InitRefAttribute(&attrs[2], TEE_ATTR_RSA_PRIVATE_EXPONENT, nd + k, k);
	res = TEE_PopulateTransientObject(key, attrs, 3);
	uint32_t mode = p[0].value.b ? TEE_MODE_DECRYPT : TEE_MODE_ENCRYPT;
	if (res == TEE_SUCCESS)
		res = TEE_AllocateOperation(&op, p[0].value.a, mode, k * 8);
	if (res == TEE_SUCCESS) {
		res = TEE_SetOperationKey(op, key);
		size_t n = p[3].memref.size;
		if (res == TEE_SUCCESS && mode == TEE_MODE_DECRYPT)
			res = TEE_AsymmetricDecrypt(op, NULL, 0, p[2].memref.buffer, p[2].memref.size, p[3].memref.buffer, &n);
		else if (res == TEE_SUCCESS)
			res = TEE_AsymmetricEncrypt(op, NULL, 0, p[2].memref.buffer, p[2].memref.size, p[3].memref.buffer, &n);
		p[3].memref.size = n;
		TEE_FreeOperation(op);
	}
	TEE_FreeTransientObject(key);
	return res;
}

TEE_Result TA_InvokeCommandEntryPoint(void *ctx, uint32_t cmd, uint32_t types, TEE_Param p[4])
{
	struct aes_state *s = ctx;
	switch (cmd) {
	case 0:
		return prepare(s, types, p);
	case 1:
		if (types != PT(MEMREF_INPUT, NONE, NONE, NONE))
			return TEE_ERROR_BAD_PARAMETERS;
		return set_key(s, p[0].memref.buffer, p[0].memref.size);
	case 2:
		if (types != PT(MEMREF_INPUT, NONE, NONE, NONE) || !s->op)
			return TEE_ERROR_BAD_PARAMETERS;
		TEE_CipherInit(s->op, p[0].memref.buffer, p[0].memref.size);
		return TEE_SUCCESS;
	case 3: {
		if (types != PT(MEMREF_INPUT, MEMREF_OUTPUT, NONE, NONE) || !s->op)
			return TEE_ERROR_BAD_PARAMETERS;
		size_t n = p[1].memref.size;
		TEE_Result res = TEE_CipherUpdate(s->op, p[0].memref.buffer, p[0].memref.size, p[1].memref.buffer, &n);
		p[1].memref.size = n;
		return res;
	}
	case 4: {
		if (types != PT(NONE, NONE, NONE, NONE) || !s->op)
			return TEE_ERROR_BAD_STATE;
		TEE_ResetTransientObject(s->key);
		TEE_Result res = TEE_GenerateKey(s->key, s->key_size * 8, NULL, 0);
		if (res != TEE_SUCCESS)
			return res;
		s->have_key = 1;
		TEE_ResetOperation(s->op);
		return TEE_SetOperationKey(s->op, s->key);
	}
	case 5:
		return digest(types, p);
	case 6:
		return hmac(types, p);
	case 7:
		return rsa(types, p);
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
