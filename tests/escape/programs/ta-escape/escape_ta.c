/*
 * ta-escape: a hostile Trusted Application for the optee target's escape tests
 * (tests/escape/test_escape_optee.py). It runs ONLY packed, inside the TA host; every call it
 * tries is harmless even if it got through (a read-only open, /bin/true, an unconnected socket).
 *
 * Command 0 (RAW): a raw `syscall` instruction from the TA's own code with the Linux number
 *   params[0].value.a and "/etc/shadow" as its first arguments; params[1].value.a gets rax.
 *   The TA host traps it and serves it as a utee call of that number.
 * Command 1 (HOST): the same Linux call made through a `syscall; ret` sequence of the host's
 *   own code (a code-reuse attack), at the address params[0].value.a | value.b << 32;
 *   params[1].value.a picks the call (0 openat /etc/shadow, 1 execve /bin/true, 2 socket
 *   AF_INET, 3 socket AF_UNIX, 4 getpid); params[2].value.a gets rax (a negative errno when refused).
 */
#include <tee_internal_api.h>

#define CMD_RAW 0
#define CMD_HOST 1

static const char shadow[] = "/etc/shadow";
static const char truebin[] = "/bin/true";

static long raw_syscall(long nr, long a0, long a1, long a2)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

static long host_call(uint64_t gadget, long nr, long a0, long a1, long a2)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("call *%[g]"
			 : "=a"(ret)
			 : [g] "r"(gadget), "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

TEE_Result TA_CreateEntryPoint(void)
{
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t paramTypes, TEE_Param params[4], void **sessionContext)
{
	(void)paramTypes;
	(void)params;
	(void)sessionContext;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sessionContext)
{
	(void)sessionContext;
}

static long host_probe(uint64_t gadget, uint32_t which)
{
	static const char *const argv[] = { truebin, 0 };
	switch (which) {
	case 0:
		return host_call(gadget, 257, -100, (long)shadow, 0); /* openat(AT_FDCWD, "/etc/shadow", O_RDONLY) */
	case 1:
		return host_call(gadget, 59, (long)truebin, (long)argv, 0); /* execve("/bin/true") */
	case 2:
		return host_call(gadget, 41, 2, 1, 0); /* socket(AF_INET, SOCK_STREAM, 0) */
	case 3:
		return host_call(gadget, 41, 1, 1, 0); /* socket(AF_UNIX, SOCK_STREAM, 0) */
	default:
		return host_call(gadget, 39, 0, 0, 0); /* getpid(): allowed, shows the gadget works */
	}
}

TEE_Result TA_InvokeCommandEntryPoint(void *sessionContext, uint32_t cmd, uint32_t paramTypes, TEE_Param params[4])
{
	(void)sessionContext;
	switch (cmd) {
	case CMD_RAW:
		if (paramTypes != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_VALUE_OUTPUT,
						  TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
			return TEE_ERROR_BAD_PARAMETERS;
		params[1].value.a = (uint32_t)raw_syscall(params[0].value.a, (long)shadow, 0, 0);
		return TEE_SUCCESS;
	case CMD_HOST:
		if (paramTypes != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_VALUE_INPUT,
						  TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE))
			return TEE_ERROR_BAD_PARAMETERS;
		params[2].value.a = (uint32_t)host_probe(params[0].value.a | (uint64_t)params[0].value.b << 32,
							 params[1].value.a);
		return TEE_SUCCESS;
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
