# Compiler flags shared by every target. Included by the top-level Makefile.
#
#   SANITIZE=address,undefined   build with these sanitizers (as git's SANITIZE=)
#   V=1                          print full command lines (as redis's V=1)
#   DEBUG=1                      -O0 -g3
#
# assert() checks invariants (curl's DEBUGASSERT): on in DEBUG=1 and sanitizer builds (the
# ASan/UBSan test build, the fuzzers), compiled out with NDEBUG in the release build.

CC      ?= gcc
STD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wold-style-definition -Wpointer-arith \
           -Wwrite-strings -Wvla -Wformat=2 -Wcast-qual -fno-common -Werror
ifeq ($(DEBUG),1)
OPT     := -O0 -g3
else
OPT     := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif

# libcurl (and the libcrypto it loads) and libpq are headers only here: common/src/curl_api.c
# and services/db-service/pq_api.c dlopen them at run time (common/dlapi.h), so no binary has
# a DT_NEEDED on them (cold start, docs/benchmarks.md).
PKGS    := libmicrohttpd jansson libprotobuf-c yaml-0.1 uuid
DLPKGS  := libcurl libcrypto libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DLPKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -Icommon/include -I$(B)/gen -include common/banned.h -MMD -MP
CFLAGS   += $(STD) $(WARN) $(OPT) $(PKG_CFLAGS) -pthread
LDLIBS   += $(PKG_LIBS) -pthread -lm
# Each binary records only the libraries it calls: fewer shared objects for the loader to map
# at exec.
LDFLAGS  += -Wl,--as-needed

ifeq ($(SANITIZE)$(DEBUG),)
CPPFLAGS += -DNDEBUG
endif

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
QUIET_CC =
QUIET_AR =
QUIET_LINK =
QUIET_GEN =
else
Q := @
QUIET_CC   = @echo '   ' CC $@;
QUIET_AR   = @echo '   ' AR $@;
QUIET_LINK = @echo '   ' LINK $@;
QUIET_GEN  = @echo '   ' GEN $@;
endif
