/* The OP-TEE utee system calls (numbers: OP-TEE tee_syscall_numbers.h; arguments:
 * utee_syscalls.h), issued with `syscall` on x86-64: arguments in rdi, rsi, rdx, r10, r8, r9,
 * r12, r13; the TEE_Result comes back in rax. */
#ifndef UTEE_SYSCALLS_H
#define UTEE_SYSCALLS_H

#include <stddef.h>
#include <stdint.h>

struct utee_params {
	uint64_t types;
	uint64_t vals[8];
};

struct utee_attribute {
	uint64_t a;
	uint64_t b;
	uint32_t attribute_id;
};

struct utee_object_info {
	uint32_t obj_type;
	uint32_t obj_size;
	uint32_t max_obj_size;
	uint32_t obj_usage;
	uint32_t data_size;
	uint32_t data_pos;
	uint32_t handle_flags;
};

void _utee_return(unsigned long ret) __attribute__((noreturn));
void _utee_log(const void *buf, size_t len);
void _utee_panic(unsigned long code) __attribute__((noreturn));
uint32_t _utee_check_access_rights(uint32_t flags, const void *buf, size_t len);
uint32_t _utee_wait(unsigned long timeout);
uint32_t _utee_get_time(unsigned long cat, void *time);
uint32_t _utee_set_ta_time(const void *time);
uint32_t _utee_cryp_state_alloc(unsigned long algo, unsigned long op_mode, unsigned long key1, unsigned long key2,
				uint32_t *state);
uint32_t _utee_cryp_state_copy(unsigned long dst, unsigned long src);
uint32_t _utee_cryp_state_free(unsigned long state);
uint32_t _utee_hash_init(unsigned long state, const void *iv, size_t iv_len);
uint32_t _utee_hash_update(unsigned long state, const void *buf, size_t blen);
uint32_t _utee_hash_final(unsigned long state, const void *chunk, size_t chunk_size, void *hash, uint64_t *hash_len);
uint32_t _utee_cipher_init(unsigned long state, const void *iv, size_t iv_len);
uint32_t _utee_cipher_update(unsigned long state, const void *src, size_t src_len, void *dest, uint64_t *dest_len);
uint32_t _utee_cipher_final(unsigned long state, const void *src, size_t src_len, void *dest, uint64_t *dest_len);
uint32_t _utee_cryp_obj_get_info(unsigned long obj, struct utee_object_info *info);
uint32_t _utee_cryp_obj_restrict_usage(unsigned long obj, unsigned long usage);
uint32_t _utee_cryp_obj_get_attr(unsigned long obj, unsigned long attr_id, void *buffer, uint64_t *size);
uint32_t _utee_cryp_obj_alloc(unsigned long type, unsigned long max_size, uint32_t *obj);
uint32_t _utee_cryp_obj_close(unsigned long obj);
uint32_t _utee_cryp_obj_reset(unsigned long obj);
uint32_t _utee_cryp_obj_populate(unsigned long obj, struct utee_attribute *attrs, unsigned long attr_count);
uint32_t _utee_cryp_obj_copy(unsigned long dst_obj, unsigned long src_obj);
uint32_t _utee_cryp_random_number_generate(void *buf, size_t blen);
uint32_t _utee_authenc_init(unsigned long state, const void *nonce, size_t nonce_len, size_t tag_len,
			    size_t aad_len, size_t payload_len);
uint32_t _utee_authenc_update_aad(unsigned long state, const void *aad_data, size_t aad_data_len);
uint32_t _utee_authenc_update_payload(unsigned long state, const void *src_data, size_t src_len, void *dest_data,
				      uint64_t *dest_len);
uint32_t _utee_authenc_enc_final(unsigned long state, const void *src_data, size_t src_len, void *dest_data,
				 uint64_t *dest_len, void *tag, uint64_t *tag_len);
uint32_t _utee_authenc_dec_final(unsigned long state, const void *src_data, size_t src_len, void *dest_data,
				 uint64_t *dest_len, const void *tag, size_t tag_len);
uint32_t _utee_asymm_operate(unsigned long state, const struct utee_attribute *params, unsigned long num_params,
			     const void *src_data, size_t src_len, void *dest_data, uint64_t *dest_len);
uint32_t _utee_asymm_verify(unsigned long state, const struct utee_attribute *params, unsigned long num_params,
			    const void *data, size_t data_len, const void *sig, size_t sig_len);
uint32_t _utee_storage_obj_open(unsigned long storage_id, const void *object_id, size_t object_id_len,
				unsigned long flags, uint32_t *obj);
uint32_t _utee_storage_obj_create(unsigned long storage_id, const void *object_id, size_t object_id_len,
				  unsigned long flags, unsigned long attr, const void *data, size_t len,
				  uint32_t *obj);
uint32_t _utee_storage_obj_del(unsigned long obj);
uint32_t _utee_storage_obj_rename(unsigned long obj, const void *new_obj_id, size_t new_obj_id_len);
uint32_t _utee_storage_alloc_enum(uint32_t *obj_enum);
uint32_t _utee_storage_free_enum(unsigned long obj_enum);
uint32_t _utee_storage_reset_enum(unsigned long obj_enum);
uint32_t _utee_storage_start_enum(unsigned long obj_enum, unsigned long storage_id);
uint32_t _utee_storage_next_enum(unsigned long obj_enum, struct utee_object_info *info, void *obj_id,
				 uint64_t *len);
uint32_t _utee_storage_obj_read(unsigned long obj, void *data, size_t len, uint64_t *count);
uint32_t _utee_storage_obj_write(unsigned long obj, const void *data, size_t len);
uint32_t _utee_storage_obj_trunc(unsigned long obj, size_t len);
uint32_t _utee_storage_obj_seek(unsigned long obj, int32_t offset, unsigned long whence);
uint32_t _utee_cryp_obj_generate_key(unsigned long obj, unsigned long key_size, const struct utee_attribute *params,
				     unsigned long param_count);

#endif
