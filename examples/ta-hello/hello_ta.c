/*
 * ta-hello: the "hello world" Trusted Application. Command 0 increments value parameter 0,
 * command 1 decrements it (the contract of OP-TEE's hello_world example); command 2 panics
 * (to show what a client sees of a dead TA); command 3 reports how many times this instance
 * has been invoked (value output) and the system time (second value).
 */
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#define CMD_INC 0
#define CMD_DEC 1
#define CMD_PANIC 2
#define CMD_STATS 3

static uint32_t invocations;

TEE_Result TA_CreateEntryPoint(void)
{
	DMSG("has been called");
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
	DMSG("has been called");
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t paramTypes, TEE_Param params[4], void **sessionContext)
{
	(void)params;
	(void)sessionContext;
	if (paramTypes != TEE_PARAM_TYPES(TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
					  TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	IMSG("Hello World!");
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sessionContext)
{
	(void)sessionContext;
	IMSG("Goodbye!");
}

TEE_Result TA_InvokeCommandEntryPoint(void *sessionContext, uint32_t cmd, uint32_t paramTypes, TEE_Param params[4])
{
	const uint32_t inout = TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INOUT, TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
					       TEE_PARAM_TYPE_NONE);
	(void)sessionContext;
	invocations++;
	switch (cmd) {
	case CMD_INC:
	case CMD_DEC:
		if (paramTypes != inout)
			return TEE_ERROR_BAD_PARAMETERS;
		IMSG("Got value: %u from NW", params[0].value.a);
		params[0].value.a += cmd == CMD_INC ? 1 : -1;
		IMSG("%s value to: %u", cmd == CMD_INC ? "Increase" : "Decrease", params[0].value.a);
		return TEE_SUCCESS;
	case CMD_PANIC:
		TEE_Panic(0xbad);
	case CMD_STATS: {
		TEE_Time t;
		if (paramTypes != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT, TEE_PARAM_TYPE_NONE,
						  TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
			return TEE_ERROR_BAD_PARAMETERS;
		TEE_GetSystemTime(&t);
		params[0].value.a = invocations;
		params[0].value.b = t.seconds;
		return TEE_SUCCESS;
	}
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
