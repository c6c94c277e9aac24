# bookstore: one non-recursive Makefile for the library, the services, the tests and the tools.
#
#   make                 build every binary into build/
#   make deps            install every Debian and npm package the build, tests and `make run` need
#   make test            build with ASan+UBSan (build/asan), check the runner (tests/selftest/run.sh)
#                        and run every test (tests/run.sh)
#   make check           clang-tidy, cppcheck, a clang-format check and the duplicate checks
#   make fuzz            build the libFuzzer harnesses (clang) into build/fuzz
#   make bench           run the benchmarks under bench/
#   make run / stop      start / stop the whole product on this machine
#   make images          build the seven service images and the test PostgreSQL image (Docker)
#   make format          rewrite sources with clang-format
#
# Variables: SANITIZE=address,undefined  V=1  DEBUG=1  B=<build dir>

B ?= build
include mk/flags.mk

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDEXPANSION:

# ---- sources -------------------------------------------------------------------------------
COMMON_SRC := $(sort $(wildcard common/src/*.c))
PROTO_SRC  := $(sort $(wildcard common/proto/*.proto))
PROTO_GEN  := $(patsubst common/proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTO_SRC))
COMMON_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) $(PROTO_GEN:.c=.o)
LIBCOMMON  := $(B)/libcommon.a

SERVICES   := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/main.c))))
BINARIES   := $(addprefix $(B)/,$(SERVICES))

# Every service's objects except main.o form lib<service>.a, so unit tests can link them.
svc_src = $(filter-out services/$(1)/main.c,$(sort $(wildcard services/$(1)/*.c)))
svc_obj = $(patsubst %.c,$(B)/obj/%.o,$(call svc_src,$(1)))

TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
TOOLS      := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC))

UNIT_SRC   := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))

FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

# ---- top-level targets ---------------------------------------------------------------------
.PHONY: all lib tools unit fuzzers test check fuzz deps bench run stop format clean images
all: $(BINARIES) $(TOOLS)
lib: $(LIBCOMMON)
tools: $(TOOLS)
unit: $(UNIT_BIN)
fuzzers: $(FUZZ_BIN)

test:
	$(Q)$(MAKE) --no-print-directory B=build/asan SANITIZE=address,undefined all unit
	$(Q)$(MAKE) --no-print-directory B=build/fuzz CC=clang FUZZ=1 SANITIZE=address,undefined fuzzers
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/selftest/run.sh
	$(Q)tests/run.sh

fuzz:
	$(Q)$(MAKE) --no-print-directory B=build/fuzz CC=clang FUZZ=1 SANITIZE=address,undefined fuzzers

check: $(B)/compile_commands.json $(PROTO_GEN)
	$(Q)tests/check.sh $(B)

deps:
	$(Q)scripts/deps.sh

bench: all
	$(Q)bench/run.sh

images:
	$(Q)scripts/images.sh build

run: all
	$(Q)scripts/run.sh start

stop:
	$(Q)scripts/run.sh stop

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

# ---- rules ---------------------------------------------------------------------------------
ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link -DFUZZING=1
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: common/proto/%.proto
	@mkdir -p $(dir $@)
	$(QUIET_GEN)protoc-c --proto_path=common/proto --c_out=$(B)/gen $<

$(B)/gen/%.pb-c.o: $(B)/gen/%.pb-c.c
	$(QUIET_CC)$(CC) $(CPPFLAGS) $(filter-out -Wcast-qual -Wpedantic,$(CFLAGS)) -c -o $@ $<

# Generated headers must exist before any object that may include them is compiled.
$(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)): | $(PROTO_GEN)

$(LIBCOMMON): $(COMMON_OBJ)
	$(QUIET_AR)rm -f $@ && ar rcs $@ $^

define service_rules
$(B)/lib$(1).a: $(call svc_obj,$(1))
	$$(QUIET_AR)rm -f $$@ && ar rcs $$@ $$^
$(B)/$(1): $(B)/obj/services/$(1)/main.o $(B)/lib$(1).a $(LIBCOMMON)
	$$(QUIET_LINK)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

$(B)/tests/tools/%: $(B)/obj/tests/tools/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# tests/unit/<dir>/test_x.c links lib<dir>.a when <dir> is a service, else only libcommon.
unit_svclib = $(if $(filter $(1),$(SERVICES)),$(B)/lib$(1).a)
$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $$(call unit_svclib,$$(firstword $$(subst /, ,$$*))) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(LIBCOMMON) $(foreach s,$(SERVICES),$(B)/lib$(s).a)
	@mkdir -p $(dir $@)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(foreach s,$(SERVICES),$(B)/lib$(s).a) $(LIBCOMMON) $(LDLIBS)

$(B)/compile_commands.json: $(COMMON_SRC) $(wildcard services/*/*.c) $(TOOL_SRC) $(UNIT_SRC)
	@mkdir -p $(dir $@)
	$(QUIET_GEN)scripts/compile-db.sh '$(CC)' '$(CPPFLAGS) $(CFLAGS)' $@ $^

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
