/* Family "net": socket argument checks (no network is used). */
#include "conf.h"
#include <sys/socket.h>
#include <unistd.h>

#define F "net"

void fam_net(void) {
    int sv[2];
    ERR(F, "socket_unix_bad_protocol", socket(AF_UNIX, SOCK_STREAM, 17), EPROTONOSUPPORT);
    ERR(F, "socketpair_unix_bad_protocol", socketpair(AF_UNIX, SOCK_STREAM, 6, sv), EPROTONOSUPPORT);
    ERR(F, "socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    ERR(F, "socket_inet_stream_udp", socket(AF_INET, SOCK_STREAM, 17), EPROTONOSUPPORT);
    ERR(F, "socket_bad_family", socket(4242, SOCK_STREAM, 0), EAFNOSUPPORT);
    ERR(F, "socket_bad_flags", socket(AF_UNIX, SOCK_STREAM | 0x1000, 0), EINVAL);
}
