/* The GP TEE Internal Core API over the utee system calls, following OP-TEE's libutee:
 * object and enumerator handles are the TEE core's numbers; an operation is a small struct
 * in the TA holding the core's state number and the key object the core reads at init. */
#include <tee_internal_api.h>

#include "utee_syscalls.h"

#define H(x) ((unsigned long)(uintptr_t)(x))

static void check(TEE_Result res)
{
	if (res != TEE_SUCCESS)
		TEE_Panic(res);
}

void TEE_Panic(TEE_Result code) { _utee_panic(code); }

void *TEE_Malloc(size_t size, uint32_t hint)
{
	void *p = malloc(size ? size : 1);
	if (p && hint == TEE_MALLOC_FILL_ZERO)
		memset(p, 0, size);
	return p;
}

void *TEE_Realloc(void *buffer, size_t newSize) { return realloc(buffer, newSize); }
void TEE_Free(void *buffer) { free(buffer); }
void TEE_MemMove(void *dest, const void *src, size_t size) { memmove(dest, src, size); }
int32_t TEE_MemCompare(const void *a, const void *b, size_t size) { return memcmp(a, b, size); }
void TEE_MemFill(void *buffer, uint8_t x, size_t size) { memset(buffer, x, size); }

TEE_Result TEE_CheckMemoryAccessRights(uint32_t accessFlags, void *buffer, size_t size)
{
	return _utee_check_access_rights(accessFlags, buffer, size);
}

void TEE_GetSystemTime(TEE_Time *time) { check(_utee_get_time(0, time)); }
void TEE_GetREETime(TEE_Time *time) { check(_utee_get_time(2, time)); }
TEE_Result TEE_GetTAPersistentTime(TEE_Time *time) { return _utee_get_time(1, time); }
TEE_Result TEE_SetTAPersistentTime(const TEE_Time *time) { return _utee_set_ta_time(time); }
TEE_Result TEE_Wait(uint32_t timeout) { return _utee_wait(timeout); }

void TEE_GenerateRandom(void *buf, size_t len) { check(_utee_cryp_random_number_generate(buf, len)); }

/* Objects */

TEE_Result TEE_AllocateTransientObject(uint32_t type, uint32_t maxSize, TEE_ObjectHandle *object)
{
	uint32_t obj = 0;
	TEE_Result res = _utee_cryp_obj_alloc(type, maxSize, &obj);
	*object = res == TEE_SUCCESS ? (TEE_ObjectHandle)(uintptr_t)obj : TEE_HANDLE_NULL;
	return res;
}

void TEE_FreeTransientObject(TEE_ObjectHandle object)
{
	if (object)
		check(_utee_cryp_obj_close(H(object)));
}

void TEE_CloseObject(TEE_ObjectHandle object)
{
	if (object)
		check(_utee_cryp_obj_close(H(object)));
}

void TEE_ResetTransientObject(TEE_ObjectHandle object)
{
	if (object)
		check(_utee_cryp_obj_reset(H(object)));
}

static struct utee_attribute *to_utee(const TEE_Attribute *attrs, uint32_t n)
{
	struct utee_attribute *u = TEE_Malloc(sizeof(*u) * (n ? n : 1), TEE_MALLOC_FILL_ZERO);
	if (!u)
		TEE_Panic(TEE_ERROR_OUT_OF_MEMORY);
	for (uint32_t i = 0; i < n; i++) {
		u[i].attribute_id = attrs[i].attributeID;
		if (attrs[i].attributeID & TEE_ATTR_FLAG_VALUE) {
			u[i].a = attrs[i].content.value.a;
			u[i].b = attrs[i].content.value.b;
		} else {
			u[i].a = (uintptr_t)attrs[i].content.ref.buffer;
			u[i].b = attrs[i].content.ref.length;
		}
	}
	return u;
}

TEE_Result TEE_PopulateTransientObject(TEE_ObjectHandle object, const TEE_Attribute *attrs, uint32_t attrCount)
{
	struct utee_attribute *u = to_utee(attrs, attrCount);
	TEE_Result res = _utee_cryp_obj_populate(H(object), u, attrCount);
	TEE_Free(u);
	return res;
}

void TEE_InitRefAttribute(TEE_Attribute *attr, uint32_t id, const void *buffer, size_t length)
{
	attr->attributeID = id;
	attr->content.ref.buffer = (void *)buffer;
	attr->content.ref.length = length;
}

void TEE_InitValueAttribute(TEE_Attribute *attr, uint32_t id, uint32_t a, uint32_t b)
{
	attr->attributeID = id;
	attr->content.value.a = a;
	attr->content.value.b = b;
}

TEE_Result TEE_GenerateKey(TEE_ObjectHandle object, uint32_t keySize, const TEE_Attribute *params, uint32_t n)
{
	struct utee_attribute *u = to_utee(params, n);
	TEE_Result res = _utee_cryp_obj_generate_key(H(object), keySize, u, n);
	TEE_Free(u);
	return res;
}

TEE_Result TEE_GetObjectInfo1(TEE_ObjectHandle object, TEE_ObjectInfo *info)
{
	struct utee_object_info i;
	TEE_Result res = _utee_cryp_obj_get_info(H(object), &i);
	if (res == TEE_SUCCESS) {
		info->objectType = i.obj_type;
		info->objectSize = i.obj_size;
		info->maxObjectSize = i.max_obj_size;
		info->objectUsage = i.obj_usage;
		info->dataSize = i.data_size;
		info->dataPosition = i.data_pos;
		info->handleFlags = i.handle_flags;
	}
	return res;
}

TEE_Result TEE_GetObjectBufferAttribute(TEE_ObjectHandle object, uint32_t id, void *buffer, size_t *size)
{
	uint64_t sz = *size;
	TEE_Result res = _utee_cryp_obj_get_attr(H(object), id, buffer, &sz);
	*size = sz;
	return res;
}

TEE_Result TEE_GetObjectValueAttribute(TEE_ObjectHandle object, uint32_t id, uint32_t *a, uint32_t *b)
{
	uint32_t v[2];
	uint64_t sz = sizeof(v);
	TEE_Result res = _utee_cryp_obj_get_attr(H(object), id, v, &sz);
	if (res == TEE_SUCCESS) {
		if (a)
			*a = v[0];
		if (b)
			*b = v[1];
	}
	return res;
}

TEE_Result TEE_RestrictObjectUsage1(TEE_ObjectHandle object, uint32_t usage)
{
	return _utee_cryp_obj_restrict_usage(H(object), usage);
}

TEE_Result TEE_CopyObjectAttributes1(TEE_ObjectHandle dst, TEE_ObjectHandle src)
{
	return _utee_cryp_obj_copy(H(dst), H(src));
}

/* Persistent objects */

TEE_Result TEE_OpenPersistentObject(uint32_t storageID, const void *id, size_t idLen, uint32_t flags,
				    TEE_ObjectHandle *object)
{
	uint32_t obj = 0;
	TEE_Result res = _utee_storage_obj_open(storageID, id, idLen, flags, &obj);
	*object = res == TEE_SUCCESS ? (TEE_ObjectHandle)(uintptr_t)obj : TEE_HANDLE_NULL;
	return res;
}

TEE_Result TEE_CreatePersistentObject(uint32_t storageID, const void *id, size_t idLen, uint32_t flags,
				      TEE_ObjectHandle attributes, const void *data, size_t dataLen,
				      TEE_ObjectHandle *object)
{
	uint32_t obj = 0;
	TEE_Result res = _utee_storage_obj_create(storageID, id, idLen, flags, H(attributes), data, dataLen,
						  object ? &obj : NULL);
	if (object)
		*object = res == TEE_SUCCESS ? (TEE_ObjectHandle)(uintptr_t)obj : TEE_HANDLE_NULL;
	return res;
}

TEE_Result TEE_CloseAndDeletePersistentObject1(TEE_ObjectHandle object)
{
	return object ? _utee_storage_obj_del(H(object)) : TEE_SUCCESS;
}

TEE_Result TEE_RenamePersistentObject(TEE_ObjectHandle object, const void *newID, size_t newIDLen)
{
	return _utee_storage_obj_rename(H(object), newID, newIDLen);
}

TEE_Result TEE_ReadObjectData(TEE_ObjectHandle object, void *buffer, size_t size, size_t *count)
{
	uint64_t c = 0;
	TEE_Result res = _utee_storage_obj_read(H(object), buffer, size, &c);
	*count = c;
	return res;
}

TEE_Result TEE_WriteObjectData(TEE_ObjectHandle object, const void *buffer, size_t size)
{
	return _utee_storage_obj_write(H(object), buffer, size);
}

TEE_Result TEE_TruncateObjectData(TEE_ObjectHandle object, size_t size)
{
	return _utee_storage_obj_trunc(H(object), size);
}

TEE_Result TEE_SeekObjectData(TEE_ObjectHandle object, intmax_t offset, TEE_Whence whence)
{
	if (offset > INT32_MAX || offset < INT32_MIN)
		return TEE_ERROR_OVERFLOW;
	return _utee_storage_obj_seek(H(object), (int32_t)offset, whence);
}

TEE_Result TEE_AllocatePersistentObjectEnumerator(TEE_ObjectEnumHandle *e)
{
	uint32_t h = 0;
	TEE_Result res = _utee_storage_alloc_enum(&h);
	*e = res == TEE_SUCCESS ? (TEE_ObjectEnumHandle)(uintptr_t)h : TEE_HANDLE_NULL;
	return res;
}

void TEE_FreePersistentObjectEnumerator(TEE_ObjectEnumHandle e)
{
	if (e)
		check(_utee_storage_free_enum(H(e)));
}

void TEE_ResetPersistentObjectEnumerator(TEE_ObjectEnumHandle e)
{
	if (e)
		check(_utee_storage_reset_enum(H(e)));
}

TEE_Result TEE_StartPersistentObjectEnumerator(TEE_ObjectEnumHandle e, uint32_t storageID)
{
	return _utee_storage_start_enum(H(e), storageID);
}

TEE_Result TEE_GetNextPersistentObject(TEE_ObjectEnumHandle e, TEE_ObjectInfo *info, void *id, size_t *idLen)
{
	struct utee_object_info i;
	uint64_t len = *idLen;
	TEE_Result res = _utee_storage_next_enum(H(e), &i, id, &len);
	*idLen = len;
	if (res == TEE_SUCCESS && info) {
		info->objectType = i.obj_type;
		info->objectSize = i.obj_size;
		info->maxObjectSize = i.max_obj_size;
		info->objectUsage = i.obj_usage;
		info->dataSize = i.data_size;
		info->dataPosition = i.data_pos;
		info->handleFlags = i.handle_flags;
	}
	return res;
}

/* Operations */

struct __TEE_OperationHandle {
	TEE_OperationInfo info;
	uint32_t state;
	TEE_ObjectHandle key1;
};

static uint32_t key_type(uint32_t algo, uint32_t mode)
{
	switch (algo >> 28) {
	case 1:
	case 4:
		return TEE_TYPE_AES;
	case 3:
		return 0xA0000000 | (algo & 0xFF);
	case 6: /* RSAES, RSA_NOPAD */
		return mode == TEE_MODE_DECRYPT ? TEE_TYPE_RSA_KEYPAIR : TEE_TYPE_RSA_PUBLIC_KEY;
	case 7:
		if ((algo & 0xFF) == 0x30) /* RSASSA */
			return mode == TEE_MODE_SIGN ? TEE_TYPE_RSA_KEYPAIR : TEE_TYPE_RSA_PUBLIC_KEY;
		return mode == TEE_MODE_SIGN ? TEE_TYPE_ECDSA_KEYPAIR : TEE_TYPE_ECDSA_PUBLIC_KEY;
	default:
		return 0;
	}
}

TEE_Result TEE_AllocateOperation(TEE_OperationHandle *operation, uint32_t algo, uint32_t mode, uint32_t maxKeySize)
{
	struct __TEE_OperationHandle *op = TEE_Malloc(sizeof(*op), TEE_MALLOC_FILL_ZERO);
	uint32_t type = key_type(algo, mode);
	TEE_Result res;

	if (!op)
		return TEE_ERROR_OUT_OF_MEMORY;
	op->info.algorithm = algo;
	op->info.operationClass = algo >> 28;
	op->info.mode = mode;
	op->info.maxKeySize = maxKeySize;
	if (type) {
		res = TEE_AllocateTransientObject(type, maxKeySize, &op->key1);
		if (res != TEE_SUCCESS)
			goto fail;
	}
	res = _utee_cryp_state_alloc(algo, mode, H(op->key1), 0, &op->state);
	if (res != TEE_SUCCESS)
		goto fail;
	if ((algo >> 28) == 5)
		check(_utee_hash_init(op->state, NULL, 0));
	*operation = op;
	return TEE_SUCCESS;
fail:
	TEE_FreeTransientObject(op->key1);
	TEE_Free(op);
	*operation = TEE_HANDLE_NULL;
	return res;
}

void TEE_FreeOperation(TEE_OperationHandle op)
{
	if (!op)
		return;
	check(_utee_cryp_state_free(op->state));
	TEE_FreeTransientObject(op->key1);
	TEE_Free(op);
}

TEE_Result TEE_SetOperationKey(TEE_OperationHandle op, TEE_ObjectHandle key)
{
	if (!op->key1)
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_ResetTransientObject(op->key1);
	if (!key)
		return TEE_SUCCESS;
	TEE_Result res = TEE_CopyObjectAttributes1(op->key1, key);
	if (res == TEE_SUCCESS)
		op->info.handleState |= TEE_HANDLE_FLAG_KEY_SET;
	return res;
}

void TEE_ResetOperation(TEE_OperationHandle op)
{
	if ((op->info.algorithm >> 28) == 5)
		check(_utee_hash_init(op->state, NULL, 0));
	op->info.handleState &= ~TEE_HANDLE_FLAG_INITIALIZED;
}

void TEE_DigestUpdate(TEE_OperationHandle op, const void *chunk, size_t len)
{
	check(_utee_hash_update(op->state, chunk, len));
}

TEE_Result TEE_DigestDoFinal(TEE_OperationHandle op, const void *chunk, size_t len, void *hash, size_t *hashLen)
{
	uint64_t hl = *hashLen;
	TEE_Result res = _utee_hash_final(op->state, chunk, len, hash, &hl);
	*hashLen = hl;
	return res;
}

void TEE_CipherInit(TEE_OperationHandle op, const void *iv, size_t ivLen)
{
	check(_utee_cipher_init(op->state, iv, ivLen));
	op->info.handleState |= TEE_HANDLE_FLAG_INITIALIZED;
}

TEE_Result TEE_CipherUpdate(TEE_OperationHandle op, const void *src, size_t srcLen, void *dst, size_t *dstLen)
{
	uint64_t dl = *dstLen;
	TEE_Result res = _utee_cipher_update(op->state, src, srcLen, dst, &dl);
	*dstLen = dl;
	return res;
}

TEE_Result TEE_CipherDoFinal(TEE_OperationHandle op, const void *src, size_t srcLen, void *dst, size_t *dstLen)
{
	uint64_t dl = *dstLen;
	TEE_Result res = _utee_cipher_final(op->state, src, srcLen, dst, &dl);
	*dstLen = dl;
	return res;
}

void TEE_MACInit(TEE_OperationHandle op, const void *iv, size_t ivLen)
{
	check(_utee_hash_init(op->state, iv, ivLen));
}

void TEE_MACUpdate(TEE_OperationHandle op, const void *chunk, size_t len)
{
	check(_utee_hash_update(op->state, chunk, len));
}

TEE_Result TEE_MACComputeFinal(TEE_OperationHandle op, const void *msg, size_t msgLen, void *mac, size_t *macLen)
{
	uint64_t ml = *macLen;
	TEE_Result res = _utee_hash_final(op->state, msg, msgLen, mac, &ml);
	*macLen = ml;
	return res;
}

TEE_Result TEE_MACCompareFinal(TEE_OperationHandle op, const void *msg, size_t msgLen, const void *mac, size_t macLen)
{
	uint8_t computed[64];
	size_t len = sizeof(computed);
	TEE_Result res = TEE_MACComputeFinal(op, msg, msgLen, computed, &len);
	if (res != TEE_SUCCESS)
		return res;
	uint8_t diff = len != macLen;
	for (size_t i = 0; i < len && i < macLen; i++)
		diff |= computed[i] ^ ((const uint8_t *)mac)[i];
	return diff ? TEE_ERROR_MAC_INVALID : TEE_SUCCESS;
}

TEE_Result TEE_AEInit(TEE_OperationHandle op, const void *nonce, size_t nonceLen, uint32_t tagLen, size_t aadLen,
		      size_t payloadLen)
{
	return _utee_authenc_init(op->state, nonce, nonceLen, tagLen, aadLen, payloadLen);
}

void TEE_AEUpdateAAD(TEE_OperationHandle op, const void *aad, size_t len)
{
	check(_utee_authenc_update_aad(op->state, aad, len));
}

TEE_Result TEE_AEUpdate(TEE_OperationHandle op, const void *src, size_t srcLen, void *dst, size_t *dstLen)
{
	uint64_t dl = *dstLen;
	TEE_Result res = _utee_authenc_update_payload(op->state, src, srcLen, dst, &dl);
	*dstLen = dl;
	return res;
}

TEE_Result TEE_AEEncryptFinal(TEE_OperationHandle op, const void *src, size_t srcLen, void *dst, size_t *dstLen,
			      void *tag, size_t *tagLen)
{
	uint64_t dl = *dstLen, tl = *tagLen;
	TEE_Result res = _utee_authenc_enc_final(op->state, src, srcLen, dst, &dl, tag, &tl);
	*dstLen = dl;
	*tagLen = tl;
	return res;
}

TEE_Result TEE_AEDecryptFinal(TEE_OperationHandle op, const void *src, size_t srcLen, void *dst, size_t *dstLen,
			      void *tag, size_t tagLen)
{
	uint64_t dl = *dstLen;
	TEE_Result res = _utee_authenc_dec_final(op->state, src, srcLen, dst, &dl, tag, tagLen);
	*dstLen = dl;
	return res;
}

TEE_Result TEE_AsymmetricSignDigest(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t n,
				    const void *digest, size_t digestLen, void *sig, size_t *sigLen)
{
	struct utee_attribute *u = to_utee(params, n);
	uint64_t sl = *sigLen;
	TEE_Result res = _utee_asymm_operate(op->state, u, n, digest, digestLen, sig, &sl);
	*sigLen = sl;
	TEE_Free(u);
	return res;
}

static TEE_Result asymm_cipher(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t n, const void *src,
			       size_t srcLen, void *dst, size_t *dstLen)
{
	struct utee_attribute *u = to_utee(params, n);
	uint64_t dl = *dstLen;
	TEE_Result res = _utee_asymm_operate(op->state, u, n, src, srcLen, dst, &dl);
	*dstLen = dl;
	TEE_Free(u);
	return res;
}

TEE_Result TEE_AsymmetricEncrypt(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t n, const void *src,
				 size_t srcLen, void *dst, size_t *dstLen)
{
	return asymm_cipher(op, params, n, src, srcLen, dst, dstLen);
}

TEE_Result TEE_AsymmetricDecrypt(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t n, const void *src,
				 size_t srcLen, void *dst, size_t *dstLen)
{
	return asymm_cipher(op, params, n, src, srcLen, dst, dstLen);
}

TEE_Result TEE_AsymmetricVerifyDigest(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t n,
				      const void *digest, size_t digestLen, const void *sig, size_t sigLen)
{
	struct utee_attribute *u = to_utee(params, n);
	TEE_Result res = _utee_asymm_verify(op->state, u, n, digest, digestLen, sig, sigLen);
	TEE_Free(u);
	return res;
}
