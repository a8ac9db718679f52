/* GP TEE Internal Core API constants (the values GlobalPlatform and OP-TEE define). */
#ifndef TEE_API_DEFINES_H
#define TEE_API_DEFINES_H

#define TEE_SUCCESS                       0x00000000
#define TEE_ERROR_CORRUPT_OBJECT          0xF0100001
#define TEE_ERROR_STORAGE_NOT_AVAILABLE   0xF0100003
#define TEE_ERROR_GENERIC                 0xFFFF0000
#define TEE_ERROR_ACCESS_DENIED           0xFFFF0001
#define TEE_ERROR_CANCEL                  0xFFFF0002
#define TEE_ERROR_ACCESS_CONFLICT         0xFFFF0003
#define TEE_ERROR_EXCESS_DATA             0xFFFF0004
#define TEE_ERROR_BAD_FORMAT              0xFFFF0005
#define TEE_ERROR_BAD_PARAMETERS          0xFFFF0006
#define TEE_ERROR_BAD_STATE               0xFFFF0007
#define TEE_ERROR_ITEM_NOT_FOUND          0xFFFF0008
#define TEE_ERROR_NOT_IMPLEMENTED         0xFFFF0009
#define TEE_ERROR_NOT_SUPPORTED           0xFFFF000A
#define TEE_ERROR_NO_DATA                 0xFFFF000B
#define TEE_ERROR_OUT_OF_MEMORY           0xFFFF000C
#define TEE_ERROR_BUSY                    0xFFFF000D
#define TEE_ERROR_COMMUNICATION           0xFFFF000E
#define TEE_ERROR_SECURITY                0xFFFF000F
#define TEE_ERROR_SHORT_BUFFER            0xFFFF0010
#define TEE_ERROR_OVERFLOW                0xFFFF300F
#define TEE_ERROR_TARGET_DEAD             0xFFFF3024
#define TEE_ERROR_STORAGE_NO_SPACE        0xFFFF3041
#define TEE_ERROR_MAC_INVALID             0xFFFF3071
#define TEE_ERROR_SIGNATURE_INVALID       0xFFFF3072
#define TEE_ERROR_TIME_NOT_SET            0xFFFF5000
#define TEE_ERROR_TIME_NEEDS_RESET        0xFFFF5001

#define TEE_PARAM_TYPE_NONE               0
#define TEE_PARAM_TYPE_VALUE_INPUT        1
#define TEE_PARAM_TYPE_VALUE_OUTPUT       2
#define TEE_PARAM_TYPE_VALUE_INOUT        3
#define TEE_PARAM_TYPE_MEMREF_INPUT       5
#define TEE_PARAM_TYPE_MEMREF_OUTPUT      6
#define TEE_PARAM_TYPE_MEMREF_INOUT       7
#define TEE_NUM_PARAMS                    4
#define TEE_PARAM_TYPES(t0, t1, t2, t3) \
	((t0) | ((t1) << 4) | ((t2) << 8) | ((t3) << 12))
#define TEE_PARAM_TYPE_GET(t, i) ((((uint32_t)(t)) >> ((i) * 4)) & 0xF)

#define TEE_TIMEOUT_INFINITE              0xFFFFFFFF

#define TEE_STORAGE_PRIVATE               0x00000001
#define TEE_STORAGE_PRIVATE_REE           0x80000000
#define TEE_DATA_FLAG_ACCESS_READ         0x00000001
#define TEE_DATA_FLAG_ACCESS_WRITE        0x00000002
#define TEE_DATA_FLAG_ACCESS_WRITE_META   0x00000004
#define TEE_DATA_FLAG_SHARE_READ          0x00000010
#define TEE_DATA_FLAG_SHARE_WRITE         0x00000020
#define TEE_DATA_FLAG_OVERWRITE           0x00000400
#define TEE_DATA_MAX_POSITION             0xFFFFFFFF
#define TEE_OBJECT_ID_MAX_LEN             64

#define TEE_USAGE_EXTRACTABLE             0x00000001
#define TEE_USAGE_ENCRYPT                 0x00000002
#define TEE_USAGE_DECRYPT                 0x00000004
#define TEE_USAGE_MAC                     0x00000008
#define TEE_USAGE_SIGN                    0x00000010
#define TEE_USAGE_VERIFY                  0x00000020
#define TEE_USAGE_DERIVE                  0x00000040
#define TEE_USAGE_DEFAULT                 0xFFFFFFFF

#define TEE_HANDLE_FLAG_PERSISTENT        0x00010000
#define TEE_HANDLE_FLAG_INITIALIZED       0x00020000
#define TEE_HANDLE_FLAG_KEY_SET           0x00040000
#define TEE_HANDLE_FLAG_EXPECT_TWO_KEYS   0x00080000

#define TEE_OPERATION_CIPHER              1
#define TEE_OPERATION_MAC                 3
#define TEE_OPERATION_AE                  4
#define TEE_OPERATION_DIGEST              5
#define TEE_OPERATION_ASYMMETRIC_CIPHER   6
#define TEE_OPERATION_ASYMMETRIC_SIGNATURE 7
#define TEE_OPERATION_KEY_DERIVATION      8

#define TEE_ALG_AES_ECB_NOPAD             0x10000010
#define TEE_ALG_AES_CBC_NOPAD             0x10000110
#define TEE_ALG_AES_CTR                   0x10000210
#define TEE_ALG_AES_GCM                   0x40000810
#define TEE_ALG_HMAC_SHA1                 0x30000002
#define TEE_ALG_HMAC_SHA224               0x30000003
#define TEE_ALG_HMAC_SHA256               0x30000004
#define TEE_ALG_HMAC_SHA384               0x30000005
#define TEE_ALG_HMAC_SHA512               0x30000006
#define TEE_ALG_SHA1                      0x50000002
#define TEE_ALG_SHA224                    0x50000003
#define TEE_ALG_SHA256                    0x50000004
#define TEE_ALG_SHA384                    0x50000005
#define TEE_ALG_SHA512                    0x50000006
#define TEE_ALG_ECDSA_P256                0x70003041
#define TEE_ALG_ECDSA_P384                0x70004041
#define TEE_ALG_ECDSA_SHA256              0x70003042
#define TEE_ALG_ECDSA_SHA384              0x70004042
#define TEE_ALG_RSASSA_PKCS1_V1_5_SHA1    0x70002830
#define TEE_ALG_RSASSA_PKCS1_V1_5_SHA256  0x70004830
#define TEE_ALG_RSASSA_PKCS1_V1_5_SHA384  0x70005830
#define TEE_ALG_RSASSA_PKCS1_V1_5_SHA512  0x70006830
#define TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1   0x70212930
#define TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256 0x70414930
#define TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA384 0x70515930
#define TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA512 0x70616930

#define TEE_TYPE_AES                      0xA0000010
#define TEE_TYPE_HMAC_SHA1                0xA0000002
#define TEE_TYPE_HMAC_SHA224              0xA0000003
#define TEE_TYPE_HMAC_SHA256              0xA0000004
#define TEE_TYPE_HMAC_SHA384              0xA0000005
#define TEE_TYPE_HMAC_SHA512              0xA0000006
#define TEE_TYPE_GENERIC_SECRET           0xA0000000
#define TEE_TYPE_ECDSA_PUBLIC_KEY         0xA0000041
#define TEE_TYPE_ECDSA_KEYPAIR            0xA1000041
#define TEE_TYPE_DATA                     0xA00000BF
#define TEE_TYPE_RSA_PUBLIC_KEY           0xA0000030
#define TEE_TYPE_RSA_KEYPAIR              0xA1000030
#define TEE_ATTR_RSA_MODULUS              0xD0000130
#define TEE_ATTR_RSA_PUBLIC_EXPONENT      0xD0000230
#define TEE_ATTR_RSA_PRIVATE_EXPONENT     0xC0000330

#define TEE_ATTR_SECRET_VALUE             0xC0000000
#define TEE_ATTR_ECC_PUBLIC_VALUE_X       0xD0000141
#define TEE_ATTR_ECC_PUBLIC_VALUE_Y       0xD0000241
#define TEE_ATTR_ECC_PRIVATE_VALUE        0xC0000341
#define TEE_ATTR_ECC_CURVE                0xF0000441
#define TEE_ATTR_FLAG_PUBLIC              (1 << 28)
#define TEE_ATTR_FLAG_VALUE               (1 << 29)
#define TEE_ECC_CURVE_NIST_P256           0x00000003
#define TEE_ECC_CURVE_NIST_P384           0x00000004

#define TEE_MALLOC_FILL_ZERO              0x00000000
#define TEE_MALLOC_NO_FILL                0x00000001

#endif
