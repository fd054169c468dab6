/*
 * cluster/auth.c — see cluster.h ("internal API authentication").
 *
 * Every node-to-node request carries:
 *   X-Cairn-Node: the sender's advertised address
 *   X-Cairn-Date: seconds since the epoch, decimal
 *   X-Cairn-Auth: hex HMAC-SHA256(secret, "cairn-internal-v1\n" method "\n"
 *                 target "\n" node "\n" date "\n" hex(SHA-256(body)))
 * The date bounds replays to CLUSTER_AUTH_SKEW seconds; the body hash binds
 * what a propose carries to the signature.
 */
#include "cluster/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/err.h"

int cluster_auth_sign(const char *secret, size_t slen, const char *method, const char *target,
		      const char *node, int64_t date, const uint8_t body_sha[32], char out[65])
{
	struct cn_buf b;
	char hex[65];
	uint8_t mac[32];
	int rc;

	cn_hex(body_sha, 32, hex);
	cn_buf_init(&b);
	cn_buf_printf(&b, "cairn-internal-v1\n%s\n%s\n%s\n%lld\n%s", method, target, node,
		      (long long)date, hex);
	rc = b.err;
	if (!rc) {
		cn_hmac_sha256(secret, slen, b.s, b.len, mac);
		cn_hex(mac, 32, out);
	}
	cn_buf_release(&b);
	return rc;
}

int cluster_auth_verify(const char *secret, size_t slen, const char *method, const char *target,
			const char *node, const char *date, const char *auth,
			const uint8_t body_sha[32], int64_t now_s)
{
	char want[65];
	char *end;
	long long d;

	if (!node || !date || !auth || strlen(auth) != 64)
		return CN_EACCESS;
	d = strtoll(date, &end, 10);
	if (end == date || *end || d - now_s > CLUSTER_AUTH_SKEW || now_s - d > CLUSTER_AUTH_SKEW)
		return CN_EACCESS;
	if (cluster_auth_sign(secret, slen, method, target, node, d, body_sha, want))
		return CN_ENOMEM;
	return cn_memcmp_ct(want, auth, 64) ? CN_EACCESS : 0;
}
