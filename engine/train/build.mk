# engine/train/: wse-train (trains the embedded default model on the KJV from
# Debian's bible-kjv-text), its library, its unit tests, and the `model` and
# `score` commands.

TRAIN_SRCS := engine/train/kjv.c engine/train/bpe.c engine/train/model.c engine/train/train.c
TRAIN_LIB := $(BUILD)/lib/libwsetrain.a
TRAIN_SAN_LIB := $(BUILD)/lib/libwsetrain-san.a

# The trainer's inner loops want the host's vector units and FMA; the result
# is deterministic for a given binary, seed and options.
TRAIN_OPT ?= -O3 -march=native -ffp-contract=fast -g
$(BUILD)/obj/engine/train/%.o: OPT = $(TRAIN_OPT)

$(TRAIN_LIB): $(TRAIN_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(TRAIN_SAN_LIB): $(TRAIN_SRCS:%.c=$(BUILD)/san/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/bin/wse-train: $(BUILD)/obj/tools/wse-train.o $(TRAIN_LIB) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) -o $@ $^ $(LDLIBS_USER)

ALL_TARGETS += $(BUILD)/bin/wse-train
INSTALL_BINS += $(BUILD)/bin/wse-train

TRAIN_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_train_*.c))
$(TRAIN_TESTS): $(BUILD)/tests/%: $(BUILD)/san/tests/unit/%.o $(TRAIN_SAN_LIB) $(ENGINE_SAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $^ $(LDLIBS_USER)
UNIT_TESTS += $(TRAIN_TESTS)

# The recipe of engine/models/default.gguf (see engine/models/README.md).
MODEL_SEED ?= 1
MODEL_THREADS ?= 2
# e.g. MODEL_EXTRA="--resume build/model/train.ckpt" after an interruption
MODEL_EXTRA ?=
MODEL_ARGS ?= --steps 560 --batch 16 --dim 192 --hidden 512 --layers 4 --heads 6 \
	--kv-heads 2 --ctx 128 --vocab 2048 --lr 2e-3 --min-lr 1e-4 --warmup 30 --wd 0.1 --clip 1.0

.PHONY: model score
model: $(BUILD)/bin/wse-train
	@mkdir -p $(BUILD)/model
	( $(BUILD)/bin/wse-train $(MODEL_ARGS) --seed $(MODEL_SEED) --threads $(MODEL_THREADS) \
		--checkpoint $(BUILD)/model/train.ckpt --out engine/models/default.gguf $(MODEL_EXTRA); \
		echo $$? > $(BUILD)/model/status ) | tee $(BUILD)/model/train.log
	@exit $$(cat $(BUILD)/model/status)

score: $(BUILD)/bin/wse-train
	$(BUILD)/bin/wse-train --score engine/models/default.gguf --threads $(MODEL_THREADS)
