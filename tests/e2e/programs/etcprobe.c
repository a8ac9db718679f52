/* What a program finds of the system's name files: whether localhost and the host's own name
 * resolve (getaddrinfo: /etc/hosts), the user's name (getpwuid: /etc/passwd), and whether a
 * line appended to /etc/hosts is then resolved. */
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *resolves(const char *name) {
    struct addrinfo *r = NULL;
    int e = getaddrinfo(name, "80", NULL, &r);
    if (r) freeaddrinfo(r);
    return e == 0 ? "yes" : "no";
}

int main(void) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    struct passwd *pw = getpwuid(getuid());
    printf("localhost resolves: %s\nown host name resolves: %s\nuser has a name: %s\n", resolves("localhost"),
           resolves(host), pw && pw->pw_name[0] ? "yes" : "no");
    FILE *f = fopen("/etc/hosts", "a");
    int added = f && fputs("127.0.0.9 litebox-etc-probe\n", f) >= 0 && fclose(f) == 0;
    printf("appended to /etc/hosts: %s, then resolves: %s\n", added ? "yes" : "no", resolves("litebox-etc-probe"));
    return 0;
}
