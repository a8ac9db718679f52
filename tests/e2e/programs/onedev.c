/* Whether files the app makes below image directories are on the file system of / (one
 * device, as an overlay's upper layer is) with numbers no image file has. Usage: onedev
 * NEWFILE IMAGEFILE. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    struct stat root, made, image;
    if (close(open(argv[1], O_CREAT | O_WRONLY, 0644)) != 0) return 1;
    if (stat("/", &root) != 0 || stat(argv[1], &made) != 0 || stat(argv[2], &image) != 0) return 1;
    printf("new file on /'s device %d, image file on /'s device %d, numbers differ %d\n", made.st_dev == root.st_dev,
           image.st_dev == root.st_dev, made.st_ino != image.st_ino);
    unlink(argv[1]);
    return 0;
}
