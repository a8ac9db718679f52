/* Family "net": socket argument checks (no network is used). */
#include "conf.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
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

    /* The interface ioctls on a socket: the loopback interface is there (Java's
     * NetworkInterface asks so); an unknown name is ENODEV; a file is no socket (ENOTTY). */
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    CASE(F, "siocgifindex_lo", ioctl(s, SIOCGIFINDEX, &r) == 0 && r.ifr_ifindex == 1);
    CASE(F, "siocgifflags_lo", ioctl(s, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & (IFF_UP | IFF_LOOPBACK)) == (IFF_UP | IFF_LOOPBACK));
    ERR(F, "siocgifaddr_unix_socket", ioctl(s, SIOCGIFADDR, &r), ENOTTY);
    int in = socket(AF_INET, SOCK_STREAM, 0);
    CASE(F, "siocgifaddr_lo", ioctl(in, SIOCGIFADDR, &r) == 0 && r.ifr_addr.sa_family == AF_INET &&
                                  ((struct sockaddr_in *)&r.ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    close(in);
    r.ifr_ifindex = 1;
    CASE(F, "siocgifname_1", ioctl(s, SIOCGIFNAME, &r) == 0 && strcmp(r.ifr_name, "lo") == 0);
    struct ifreq list[32];
    struct ifconf c = {.ifc_len = sizeof list, .ifc_req = list};
    int has_lo = 0;
    if (ioctl(s, SIOCGIFCONF, &c) == 0)
        for (size_t i = 0; i < c.ifc_len / sizeof list[0]; i++)
            has_lo |= strcmp(list[i].ifr_name, "lo") == 0;
    CASE(F, "siocgifconf_has_lo", has_lo);
    strcpy(r.ifr_name, "litebox-none0");
    ERR(F, "siocgifindex_unknown", ioctl(s, SIOCGIFINDEX, &r), ENODEV);
    close(s);
    int file = open(conf_path(0, "net-not-a-socket"), O_CREAT | O_RDWR, 0600);
    strcpy(r.ifr_name, "lo");
    ERR(F, "siocgifindex_file", ioctl(file, SIOCGIFINDEX, &r), ENOTTY);
    close(file);
}
