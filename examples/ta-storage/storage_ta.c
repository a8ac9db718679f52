/*
 * ta-storage: secure storage with the contract of OP-TEE's secure_storage example (command 0
 * READ_RAW: object id, output buffer; command 1 WRITE_RAW: object id, data; command 2 DELETE:
 * object id), plus command 3 COUNTER: increments a counter kept in the persistent object
 * "counter" and returns it (value output a), so it survives restarts of the TA host.
 */
#include <tee_internal_api.h>

#define PT(a, b, c, d) TEE_PARAM_TYPES(TEE_PARAM_TYPE_##a, TEE_PARAM_TYPE_##b, TEE_PARAM_TYPE_##c, TEE_PARAM_TYPE_##d)
#define RW (TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE | TEE_DATA_FLAG_ACCESS_WRITE_META)

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}
TEE_Result TA_OpenSessionEntryPoint(uint32_t t, TEE_Param p[4], void **ctx) { (void)t; (void)p; (void)ctx; return TEE_SUCCESS; }
void TA_CloseSessionEntryPoint(void *ctx) { (void)ctx; }

static TEE_Result read_raw(uint32_t types, TEE_Param p[4])
{
	TEE_ObjectHandle obj;
	TEE_ObjectInfo info;
	size_t n;
	if (types != PT(MEMREF_INPUT, MEMREF_OUTPUT, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_Result res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, p[0].memref.buffer, p[0].memref.size,
						  TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_SHARE_READ, &obj);
	if (res != TEE_SUCCESS) {
		EMSG("Failed to open persistent object, res=0x%08x", res);
		return res;
	}
	res = TEE_GetObjectInfo1(obj, &info);
	if (res == TEE_SUCCESS && info.dataSize > p[1].memref.size) {
		p[1].memref.size = info.dataSize;
		res = TEE_ERROR_SHORT_BUFFER;
	} else if (res == TEE_SUCCESS) {
		res = TEE_ReadObjectData(obj, p[1].memref.buffer, info.dataSize, &n);
		p[1].memref.size = n;
	}
	TEE_CloseObject(obj);
	return res;
}

static TEE_Result write_raw(uint32_t types, TEE_Param p[4])
{
	TEE_ObjectHandle obj;
	if (types != PT(MEMREF_INPUT, MEMREF_INPUT, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_Result res = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, p[0].memref.buffer, p[0].memref.size,
						    RW | TEE_DATA_FLAG_OVERWRITE, TEE_HANDLE_NULL, NULL, 0, &obj);
	if (res != TEE_SUCCESS)
		return res;
	res = TEE_WriteObjectData(obj, p[1].memref.buffer, p[1].memref.size);
	if (res != TEE_SUCCESS)
		TEE_CloseAndDeletePersistentObject1(obj);
	else
		TEE_CloseObject(obj);
	return res;
}

static TEE_Result delete_object(uint32_t types, TEE_Param p[4])
{
	TEE_ObjectHandle obj;
	if (types != PT(MEMREF_INPUT, NONE, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_Result res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, p[0].memref.buffer, p[0].memref.size,
						  TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE_META, &obj);
	if (res != TEE_SUCCESS)
		return res;
	return TEE_CloseAndDeletePersistentObject1(obj);
}

static TEE_Result counter(uint32_t types, TEE_Param p[4])
{
	static const char id[] = "counter";
	TEE_ObjectHandle obj;
	uint32_t value = 0;
	size_t n = 0;
	if (types != PT(VALUE_OUTPUT, NONE, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_Result res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, id, sizeof(id) - 1, RW, &obj);
	if (res == TEE_ERROR_ITEM_NOT_FOUND)
		res = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, id, sizeof(id) - 1, RW, TEE_HANDLE_NULL, &value,
						 sizeof(value), &obj);
	if (res != TEE_SUCCESS)
		return res;
	res = TEE_ReadObjectData(obj, &value, sizeof(value), &n);
	if (res == TEE_SUCCESS) {
		value++;
		res = TEE_SeekObjectData(obj, 0, TEE_DATA_SEEK_SET);
	}
	if (res == TEE_SUCCESS)
		res = TEE_WriteObjectData(obj, &value, sizeof(value));
	TEE_CloseObject(obj);
	p[0].value.a = value;
	return res;
}

TEE_Result TA_InvokeCommandEntryPoint(void *ctx, uint32_t cmd, uint32_t types, TEE_Param p[4])
{
	(void)ctx;
	switch (cmd) {
	case 0:
		return read_raw(types, p);
	case 1:
		return write_raw(types, p);
	case 2:
		return delete_object(types, p);
	case 3:
		return counter(types, p);
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
