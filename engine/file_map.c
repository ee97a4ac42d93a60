// SPDX-License-Identifier: MIT
/*
 * file_map.c - a model file mapped read-only, whole: the GGUF reader and the
 * llama2.c loader point their tensors straight into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

void *eng_file_map(const char *path, size_t *size, struct eng_err *err)
{
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		eng_fail(err, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		eng_fail(err, "%s is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_size == 0) {
		eng_fail(err, "%s is empty", path);
		close(fd);
		return NULL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		eng_fail(err, "cannot mmap %s: %s", path, strerror(errno));
		return NULL;
	}
	*size = (size_t)st.st_size;
	return map;
}

void eng_file_unmap(void *map, size_t size)
{
	if (map)
		munmap(map, size);
}
