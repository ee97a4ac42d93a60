/* SPDX-License-Identifier: MIT */
/*
 * default_model.h - where a program finds the default model when it is not
 * given one. Found at run time from the executable's own place, so that no
 * build path is compiled in and every layout works with the same binary:
 *
 *   $WSE_MODEL                                  set by the user
 *   <exe>/../share/wse/models/default.gguf      installed (/usr/bin -> /usr/share/wse)
 *   <exe>/../models/default.gguf                the VM (/wse/bin -> /wse/models)
 *   <exe>/../../engine/models/default.gguf      a checkout (build/bin -> engine/models)
 */
#ifndef ENGINE_DEFAULT_MODEL_H
#define ENGINE_DEFAULT_MODEL_H

#include <stddef.h>

#include "engine/engine.h"

#define ENG_MODEL_ENV	"WSE_MODEL"

/*
 * Fills path (size bytes) with the first readable place above. A set but
 * unreadable $WSE_MODEL is an error, not a reason to look further: the user
 * asked for that file. err names every place looked at.
 */
int eng_default_model(char *path, size_t size, struct eng_err *err);

/* "$WSE_MODEL<sep>/usr/share/wse/models/default.gguf<sep>...": for --help. */
void eng_default_model_places(char *buf, size_t size, const char *sep);

#endif /* ENGINE_DEFAULT_MODEL_H */
