/* The utee system-call stubs (generated list; see utee_syscalls.h for the convention).
 * Arguments 7 and 8 arrive on the stack (SysV) and go to r12/r13, which are saved around the call. */
	.text
	.globl _utee_return
	.type _utee_return,@function
	.hidden _utee_return
_utee_return:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $0, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_return, .-_utee_return

	.globl _utee_log
	.type _utee_log,@function
	.hidden _utee_log
_utee_log:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $1, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_log, .-_utee_log

	.globl _utee_panic
	.type _utee_panic,@function
	.hidden _utee_panic
_utee_panic:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $2, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_panic, .-_utee_panic

	.globl _utee_check_access_rights
	.type _utee_check_access_rights,@function
	.hidden _utee_check_access_rights
_utee_check_access_rights:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $8, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_check_access_rights, .-_utee_check_access_rights

	.globl _utee_wait
	.type _utee_wait,@function
	.hidden _utee_wait
_utee_wait:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $12, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_wait, .-_utee_wait

	.globl _utee_get_time
	.type _utee_get_time,@function
	.hidden _utee_get_time
_utee_get_time:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $13, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_get_time, .-_utee_get_time

	.globl _utee_set_ta_time
	.type _utee_set_ta_time,@function
	.hidden _utee_set_ta_time
_utee_set_ta_time:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $14, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_set_ta_time, .-_utee_set_ta_time

	.globl _utee_cryp_state_alloc
	.type _utee_cryp_state_alloc,@function
	.hidden _utee_cryp_state_alloc
_utee_cryp_state_alloc:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $15, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_state_alloc, .-_utee_cryp_state_alloc

	.globl _utee_cryp_state_copy
	.type _utee_cryp_state_copy,@function
	.hidden _utee_cryp_state_copy
_utee_cryp_state_copy:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $16, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_state_copy, .-_utee_cryp_state_copy

	.globl _utee_cryp_state_free
	.type _utee_cryp_state_free,@function
	.hidden _utee_cryp_state_free
_utee_cryp_state_free:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $17, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_state_free, .-_utee_cryp_state_free

	.globl _utee_hash_init
	.type _utee_hash_init,@function
	.hidden _utee_hash_init
_utee_hash_init:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $18, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_hash_init, .-_utee_hash_init

	.globl _utee_hash_update
	.type _utee_hash_update,@function
	.hidden _utee_hash_update
_utee_hash_update:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $19, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_hash_update, .-_utee_hash_update

	.globl _utee_hash_final
	.type _utee_hash_final,@function
	.hidden _utee_hash_final
_utee_hash_final:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $20, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_hash_final, .-_utee_hash_final

	.globl _utee_cipher_init
	.type _utee_cipher_init,@function
	.hidden _utee_cipher_init
_utee_cipher_init:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $21, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cipher_init, .-_utee_cipher_init

	.globl _utee_cipher_update
	.type _utee_cipher_update,@function
	.hidden _utee_cipher_update
_utee_cipher_update:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $22, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cipher_update, .-_utee_cipher_update

	.globl _utee_cipher_final
	.type _utee_cipher_final,@function
	.hidden _utee_cipher_final
_utee_cipher_final:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $23, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cipher_final, .-_utee_cipher_final

	.globl _utee_cryp_obj_get_info
	.type _utee_cryp_obj_get_info,@function
	.hidden _utee_cryp_obj_get_info
_utee_cryp_obj_get_info:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $24, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_get_info, .-_utee_cryp_obj_get_info

	.globl _utee_cryp_obj_restrict_usage
	.type _utee_cryp_obj_restrict_usage,@function
	.hidden _utee_cryp_obj_restrict_usage
_utee_cryp_obj_restrict_usage:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $25, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_restrict_usage, .-_utee_cryp_obj_restrict_usage

	.globl _utee_cryp_obj_get_attr
	.type _utee_cryp_obj_get_attr,@function
	.hidden _utee_cryp_obj_get_attr
_utee_cryp_obj_get_attr:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $26, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_get_attr, .-_utee_cryp_obj_get_attr

	.globl _utee_cryp_obj_alloc
	.type _utee_cryp_obj_alloc,@function
	.hidden _utee_cryp_obj_alloc
_utee_cryp_obj_alloc:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $27, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_alloc, .-_utee_cryp_obj_alloc

	.globl _utee_cryp_obj_close
	.type _utee_cryp_obj_close,@function
	.hidden _utee_cryp_obj_close
_utee_cryp_obj_close:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $28, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_close, .-_utee_cryp_obj_close

	.globl _utee_cryp_obj_reset
	.type _utee_cryp_obj_reset,@function
	.hidden _utee_cryp_obj_reset
_utee_cryp_obj_reset:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $29, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_reset, .-_utee_cryp_obj_reset

	.globl _utee_cryp_obj_populate
	.type _utee_cryp_obj_populate,@function
	.hidden _utee_cryp_obj_populate
_utee_cryp_obj_populate:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $30, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_populate, .-_utee_cryp_obj_populate

	.globl _utee_cryp_obj_copy
	.type _utee_cryp_obj_copy,@function
	.hidden _utee_cryp_obj_copy
_utee_cryp_obj_copy:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $31, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_copy, .-_utee_cryp_obj_copy

	.globl _utee_cryp_random_number_generate
	.type _utee_cryp_random_number_generate,@function
	.hidden _utee_cryp_random_number_generate
_utee_cryp_random_number_generate:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $33, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_random_number_generate, .-_utee_cryp_random_number_generate

	.globl _utee_authenc_init
	.type _utee_authenc_init,@function
	.hidden _utee_authenc_init
_utee_authenc_init:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $34, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_authenc_init, .-_utee_authenc_init

	.globl _utee_authenc_update_aad
	.type _utee_authenc_update_aad,@function
	.hidden _utee_authenc_update_aad
_utee_authenc_update_aad:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $35, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_authenc_update_aad, .-_utee_authenc_update_aad

	.globl _utee_authenc_update_payload
	.type _utee_authenc_update_payload,@function
	.hidden _utee_authenc_update_payload
_utee_authenc_update_payload:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $36, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_authenc_update_payload, .-_utee_authenc_update_payload

	.globl _utee_authenc_enc_final
	.type _utee_authenc_enc_final,@function
	.hidden _utee_authenc_enc_final
_utee_authenc_enc_final:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $37, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_authenc_enc_final, .-_utee_authenc_enc_final

	.globl _utee_authenc_dec_final
	.type _utee_authenc_dec_final,@function
	.hidden _utee_authenc_dec_final
_utee_authenc_dec_final:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $38, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_authenc_dec_final, .-_utee_authenc_dec_final

	.globl _utee_asymm_operate
	.type _utee_asymm_operate,@function
	.hidden _utee_asymm_operate
_utee_asymm_operate:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $39, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_asymm_operate, .-_utee_asymm_operate

	.globl _utee_asymm_verify
	.type _utee_asymm_verify,@function
	.hidden _utee_asymm_verify
_utee_asymm_verify:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $40, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_asymm_verify, .-_utee_asymm_verify

	.globl _utee_storage_obj_open
	.type _utee_storage_obj_open,@function
	.hidden _utee_storage_obj_open
_utee_storage_obj_open:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $41, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_open, .-_utee_storage_obj_open

	.globl _utee_storage_obj_create
	.type _utee_storage_obj_create,@function
	.hidden _utee_storage_obj_create
_utee_storage_obj_create:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $42, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_create, .-_utee_storage_obj_create

	.globl _utee_storage_obj_del
	.type _utee_storage_obj_del,@function
	.hidden _utee_storage_obj_del
_utee_storage_obj_del:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $43, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_del, .-_utee_storage_obj_del

	.globl _utee_storage_obj_rename
	.type _utee_storage_obj_rename,@function
	.hidden _utee_storage_obj_rename
_utee_storage_obj_rename:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $44, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_rename, .-_utee_storage_obj_rename

	.globl _utee_storage_alloc_enum
	.type _utee_storage_alloc_enum,@function
	.hidden _utee_storage_alloc_enum
_utee_storage_alloc_enum:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $45, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_alloc_enum, .-_utee_storage_alloc_enum

	.globl _utee_storage_free_enum
	.type _utee_storage_free_enum,@function
	.hidden _utee_storage_free_enum
_utee_storage_free_enum:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $46, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_free_enum, .-_utee_storage_free_enum

	.globl _utee_storage_reset_enum
	.type _utee_storage_reset_enum,@function
	.hidden _utee_storage_reset_enum
_utee_storage_reset_enum:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $47, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_reset_enum, .-_utee_storage_reset_enum

	.globl _utee_storage_start_enum
	.type _utee_storage_start_enum,@function
	.hidden _utee_storage_start_enum
_utee_storage_start_enum:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $48, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_start_enum, .-_utee_storage_start_enum

	.globl _utee_storage_next_enum
	.type _utee_storage_next_enum,@function
	.hidden _utee_storage_next_enum
_utee_storage_next_enum:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $49, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_next_enum, .-_utee_storage_next_enum

	.globl _utee_storage_obj_read
	.type _utee_storage_obj_read,@function
	.hidden _utee_storage_obj_read
_utee_storage_obj_read:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $50, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_read, .-_utee_storage_obj_read

	.globl _utee_storage_obj_write
	.type _utee_storage_obj_write,@function
	.hidden _utee_storage_obj_write
_utee_storage_obj_write:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $51, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_write, .-_utee_storage_obj_write

	.globl _utee_storage_obj_trunc
	.type _utee_storage_obj_trunc,@function
	.hidden _utee_storage_obj_trunc
_utee_storage_obj_trunc:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $52, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_trunc, .-_utee_storage_obj_trunc

	.globl _utee_storage_obj_seek
	.type _utee_storage_obj_seek,@function
	.hidden _utee_storage_obj_seek
_utee_storage_obj_seek:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $53, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_storage_obj_seek, .-_utee_storage_obj_seek

	.globl _utee_cryp_obj_generate_key
	.type _utee_cryp_obj_generate_key,@function
	.hidden _utee_cryp_obj_generate_key
_utee_cryp_obj_generate_key:
	push %r12
	push %r13
	mov 24(%rsp), %r12
	mov 32(%rsp), %r13
	mov %rcx, %r10
	mov $54, %eax
	syscall
	pop %r13
	pop %r12
	ret
	.size _utee_cryp_obj_generate_key, .-_utee_cryp_obj_generate_key

	.section .note.GNU-stack,"",@progbits
