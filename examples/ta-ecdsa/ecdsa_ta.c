/*
 * ta-ecdsa: ECDSA sign and verify. Command 0 GENERATE (value a: 256 or 384) makes this
 * session's key pair; command 1 SIGN hashes the message (SHA-256 for P-256, SHA-384 for
 * P-384) and signs it (r || s out); command 2 VERIFY (message, signature) answers
 * TEE_SUCCESS or TEE_ERROR_SIGNATURE_INVALID; command 3 PUBLIC gives x || y; command 4
 * VERIFY_WITH (value a: curve bits; public x || y; digest; signature) checks a signature
 * made elsewhere under a given public key (known-answer vectors).
 */
#include <tee_internal_api.h>

#define PT(a, b, c, d) TEE_PARAM_TYPES(TEE_PARAM_TYPE_##a, TEE_PARAM_TYPE_##b, TEE_PARAM_TYPE_##c, TEE_PARAM_TYPE_##d)

struct ecdsa_state {
	TEE_ObjectHandle key;
	uint32_t bits;
};

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t t, TEE_Param p[4], void **ctx)
{
	(void)t;
	(void)p;
	*ctx = TEE_Malloc(sizeof(struct ecdsa_state), TEE_MALLOC_FILL_ZERO);
	return *ctx ? TEE_SUCCESS : TEE_ERROR_OUT_OF_MEMORY;
}

void TA_CloseSessionEntryPoint(void *ctx)
{
	struct ecdsa_state *s = ctx;
	TEE_FreeTransientObject(s->key);
	TEE_Free(s);
}

static uint32_t curve_of(uint32_t bits) { return bits == 384 ? TEE_ECC_CURVE_NIST_P384 : TEE_ECC_CURVE_NIST_P256; }
static uint32_t alg_of(uint32_t bits) { return bits == 384 ? TEE_ALG_ECDSA_P384 : TEE_ALG_ECDSA_P256; }

static TEE_Result hash(uint32_t bits, const void *msg, size_t len, uint8_t *out, size_t *outLen)
{
	TEE_OperationHandle op;
	TEE_Result res = TEE_AllocateOperation(&op, bits == 384 ? TEE_ALG_SHA384 : TEE_ALG_SHA256, TEE_MODE_DIGEST, 0);
	if (res != TEE_SUCCESS)
		return res;
	res = TEE_DigestDoFinal(op, msg, len, out, outLen);
	TEE_FreeOperation(op);
	return res;
}

static TEE_Result verify_with(TEE_ObjectHandle key, uint32_t bits, const void *digest, size_t dlen, const void *sig,
			      size_t slen)
{
	TEE_OperationHandle op;
	TEE_Result res = TEE_AllocateOperation(&op, alg_of(bits), TEE_MODE_VERIFY, bits);
	if (res != TEE_SUCCESS)
		return res;
	res = TEE_SetOperationKey(op, key);
	if (res == TEE_SUCCESS)
		res = TEE_AsymmetricVerifyDigest(op, NULL, 0, digest, dlen, sig, slen);
	TEE_FreeOperation(op);
	return res;
}

TEE_Result TA_InvokeCommandEntryPoint(void *ctx, uint32_t cmd, uint32_t types, TEE_Param p[4])
{
	struct ecdsa_state *s = ctx;
	uint8_t digest[64];
	size_t dlen = sizeof(digest);
	TEE_Result res;

	switch (cmd) {
	case 0: {
		TEE_Attribute curve;
		if (types != PT(VALUE_INPUT, NONE, NONE, NONE) || (p[0].value.a != 256 && p[0].value.a != 384))
			return TEE_ERROR_BAD_PARAMETERS;
		TEE_FreeTransientObject(s->key);
		s->bits = p[0].value.a;
		res = TEE_AllocateTransientObject(TEE_TYPE_ECDSA_KEYPAIR, s->bits, &s->key);
		if (res != TEE_SUCCESS)
			return res;
		TEE_InitValueAttribute(&curve, TEE_ATTR_ECC_CURVE, curve_of(s->bits), 0);
		return TEE_GenerateKey(s->key, s->bits, &curve, 1);
	}
	case 1: {
		TEE_OperationHandle op;
		if (types != PT(MEMREF_INPUT, MEMREF_OUTPUT, NONE, NONE) || !s->key)
			return TEE_ERROR_BAD_STATE;
		res = hash(s->bits, p[0].memref.buffer, p[0].memref.size, digest, &dlen);
		if (res != TEE_SUCCESS)
			return res;
		res = TEE_AllocateOperation(&op, alg_of(s->bits), TEE_MODE_SIGN, s->bits);
		if (res != TEE_SUCCESS)
			return res;
		res = TEE_SetOperationKey(op, s->key);
		if (res == TEE_SUCCESS) {
			size_t n = p[1].memref.size;
			res = TEE_AsymmetricSignDigest(op, NULL, 0, digest, dlen, p[1].memref.buffer, &n);
			p[1].memref.size = n;
		}
		TEE_FreeOperation(op);
		return res;
	}
	case 2:
		if (types != PT(MEMREF_INPUT, MEMREF_INPUT, NONE, NONE) || !s->key)
			return TEE_ERROR_BAD_STATE;
		res = hash(s->bits, p[0].memref.buffer, p[0].memref.size, digest, &dlen);
		if (res != TEE_SUCCESS)
			return res;
		return verify_with(s->key, s->bits, digest, dlen, p[1].memref.buffer, p[1].memref.size);
	case 3: {
		size_t half = s->bits / 8, n = half;
		if (types != PT(MEMREF_OUTPUT, NONE, NONE, NONE) || !s->key)
			return TEE_ERROR_BAD_STATE;
		if (p[0].memref.size < 2 * half) {
			p[0].memref.size = 2 * half;
			return TEE_ERROR_SHORT_BUFFER;
		}
		res = TEE_GetObjectBufferAttribute(s->key, TEE_ATTR_ECC_PUBLIC_VALUE_X, p[0].memref.buffer, &n);
		if (res == TEE_SUCCESS)
			res = TEE_GetObjectBufferAttribute(s->key, TEE_ATTR_ECC_PUBLIC_VALUE_Y,
							   (uint8_t *)p[0].memref.buffer + half, &n);
		p[0].memref.size = 2 * half;
		return res;
	}
	case 4: {
		TEE_ObjectHandle pub;
		TEE_Attribute attrs[3];
		uint32_t bits = p[0].value.a;
		if (types != PT(VALUE_INPUT, MEMREF_INPUT, MEMREF_INPUT, MEMREF_INPUT) || (bits != 256 && bits != 384) ||
		    p[1].memref.size != bits / 4)
			return TEE_ERROR_BAD_PARAMETERS;
		res = TEE_AllocateTransientObject(TEE_TYPE_ECDSA_PUBLIC_KEY, bits, &pub);
		if (res != TEE_SUCCESS)
			return res;
		TEE_InitRefAttribute(&attrs[0], TEE_ATTR_ECC_PUBLIC_VALUE_X, p[1].memref.buffer, bits / 8);
		TEE_InitRefAttribute(&attrs[1], TEE_ATTR_ECC_PUBLIC_VALUE_Y, (uint8_t *)p[1].memref.buffer + bits / 8,
				     bits / 8);
		TEE_InitValueAttribute(&attrs[2], TEE_ATTR_ECC_CURVE, curve_of(bits), 0);
		res = TEE_PopulateTransientObject(pub, attrs, 3);
		if (res == TEE_SUCCESS)
			res = verify_with(pub, bits, p[2].memref.buffer, p[2].memref.size, p[3].memref.buffer,
					  p[3].memref.size);
		TEE_FreeTransientObject(pub);
		return res;
	}
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
