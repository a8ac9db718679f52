/*
 * ta-bare: a TA built WITHOUT the LiteBox SDK (no headers, no library, -O0), issuing the utee
 * system calls itself the way OP-TEE's libutee does on x86-64: number in rax, arguments in
 * rdi, rsi, rdx, r10 (r8, r9, r12, r13 for more), TEE_Result back in rax; numbers from optee_os
 * lib/libutee/include/tee_syscall_numbers.h. It shows that the TA host runs a TA by the ABI
 * alone (tests/e2e/test_e2e_optee.py).
 *
 * Command 0: value inout, a + 1 (logs a line). Command 1: memref output filled with random
 * bytes. Command 2: value output, the REE (host) time in seconds (a) and milliseconds (b).
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define TEE_SCN_RETURN 0
#define TEE_SCN_LOG 1
#define TEE_SCN_GET_TIME 13
#define TEE_SCN_CRYP_RANDOM_NUMBER_GENERATE 33

struct ta_head {
	u32 time_low;
	u16 time_mid;
	u16 time_hi_and_version;
	u8 clock_seq_and_node[8];
	u32 stack_size;
	u32 flags;
	u64 depr_entry;
};

struct utee_params {
	u64 types;
	u64 vals[8];
};

const struct ta_head ta_head __attribute__((section(".ta_head"), used)) = {
	0x0b1e5a7a, 0x6c2d, 0x4f0e, { 0x8a, 0x3b, 0x51, 0x7c, 0x2e, 0x90, 0xd4, 0x66 },
	8192, (1 << 2) | (1 << 3), 0,
};

static long utee(long nr, long a0, long a1, long a2)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "rcx", "r11", "memory");
	return ret;
}

static u32 param_type(u64 types, int i)
{
	return (types >> (4 * i)) & 0xf;
}

static u32 invoke(u64 cmd, struct utee_params *up)
{
	static const char line[] = "ta-bare: incremented\n";
	u32 t[3] = { 0, 0, 0 };

	switch (cmd) {
	case 0:
		if (param_type(up->types, 0) != 3) /* VALUE_INOUT */
			return 0xFFFF0006; /* TEE_ERROR_BAD_PARAMETERS */
		up->vals[0] = (u32)(up->vals[0] + 1);
		utee(TEE_SCN_LOG, (long)line, sizeof(line) - 1, 0);
		return 0;
	case 1:
		if (param_type(up->types, 0) != 6) /* MEMREF_OUTPUT */
			return 0xFFFF0006;
		return (u32)utee(TEE_SCN_CRYP_RANDOM_NUMBER_GENERATE, (long)up->vals[0], (long)up->vals[1], 0);
	case 2:
		if (param_type(up->types, 0) != 2) /* VALUE_OUTPUT */
			return 0xFFFF0006;
		if (utee(TEE_SCN_GET_TIME, 2 /* UTEE_TIME_CAT_REE */, (long)t, 0) != 0)
			return 0xFFFF0000;
		up->vals[0] = t[0];
		up->vals[1] = t[1];
		return 0;
	default:
		return 0xFFFF000A; /* TEE_ERROR_NOT_SUPPORTED */
	}
}

__attribute__((visibility("default"), noreturn)) void __ta_entry(u64 func, u64 session, struct utee_params *up,
								 u64 cmd)
{
	u32 res = 0;

	(void)session;
	if (func == 2) /* invoke command; 0 open session and 1 close session accept anything */
		res = invoke(cmd, up);
	utee(TEE_SCN_RETURN, res, 0, 0);
	for (;;)
		;
}
