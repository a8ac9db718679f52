"""Container images as `litebox pack` input: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE."""
