# ocikpd: the gRPC service over the same host code as ocikp.  Its libraries
# (nghttp2, protobuf-c, libsystemd) are its own: the ocikp binary and
# package do not gain them.

# The two messages, generated at build time from the .proto in the tree.
daemon/keyprovider.pb-c.c daemon/keyprovider.pb-c.h: daemon/keyprovider.proto
	@$(MKDIR_P) daemon
	$(AM_V_GEN)$(PROTOC_C) --proto_path=$(srcdir)/daemon --c_out=daemon $(srcdir)/daemon/keyprovider.proto
BUILT_SOURCES = daemon/keyprovider.pb-c.c daemon/keyprovider.pb-c.h
CLEANFILES += daemon/keyprovider.pb-c.c daemon/keyprovider.pb-c.h

bin_PROGRAMS += ocikpd
nodist_ocikpd_SOURCES = daemon/keyprovider.pb-c.c daemon/keyprovider.pb-c.h
ocikpd_SOURCES = daemon/ocikpd.h daemon/main.c daemon/listen.c daemon/conn.c \
	daemon/grpc.c daemon/work.c daemon/peer.c \
	daemon/serve-opts.c
ocikpd_CPPFLAGS = $(AM_CPPFLAGS) -I$(builddir)/daemon
ocikpd_CFLAGS = $(AM_CFLAGS) $(DAEMON_CFLAGS)
ocikpd_LDADD = $(HOST_LIBS) $(DAEMON_LIBS)

include daemon/units.mk

TESTS += $(daemon_tests)
