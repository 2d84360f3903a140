/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_SIGNAL_H
#define CK_MARKET_SIGNAL_H

/*
 * The values of the signal path: a trading signal, its deliveries to the
 * configured receivers with every attempt, its outcome, and backtest
 * results, with the names of their enums and the functions that free
 * them. Plain data: storing them is store/signals.h's business, checking
 * and printing them signal/signal.h's. Times are Unix ms; prices are the
 * scaled integers of market/price.h.
 */
#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum signal_direction {
    SIGNAL_LONG,
    SIGNAL_SHORT,
};
enum signal_status {
    SIGNAL_ACTIVE,
    SIGNAL_WON,
    SIGNAL_LOST,
    SIGNAL_EXPIRED,
    SIGNAL_CANCELLED,
};
const char *signal_direction_name(enum signal_direction d);
int signal_direction_parse(const char *name, enum signal_direction *out);
const char *signal_status_name(enum signal_status s);
int signal_status_parse(const char *name, enum signal_status *out);

#define SIGNAL_ID_MAX 64

struct signal {
    char id[SIGNAL_ID_MAX]; /* "sig_" + 26 base32 characters, time-ordered */
    char *idempotency_key;  /* NULL when none was given */
    char *request_hash;     /* hex SHA-256 of the canonical request (idempotency) */
    char *source;
    char *symbol;
    enum timeframe tf;
    enum signal_direction direction;
    int64_t entry, stop_loss, take_profit;
    int64_t created_ms;
    int64_t expires_ms; /* 0: never */
    enum signal_status status;
    char *note;
    int64_t updated_ms;
};

/* Free what `s` owns and zero it; NULL is ignored. */
void signal_release(struct signal *s);
void signals_free(struct signal *v, size_t n);

enum delivery_status {
    DELIVERY_PENDING,
    DELIVERY_DELIVERED,
    DELIVERY_DEAD,
};
const char *delivery_status_name(enum delivery_status s);
int delivery_status_parse(const char *name, enum delivery_status *out);

struct delivery {
    int64_t id;
    char signal_id[SIGNAL_ID_MAX];
    char *receiver;
    char *webhook_id;
    enum delivery_status status;
    int64_t attempts;
    int64_t next_ms;
    char *last_error;
    int64_t last_status; /* HTTP status of the last attempt, 0 none */
    int64_t created_ms;
    int64_t delivered_ms; /* 0 until delivered */
};
void deliveries_free(struct delivery *v, size_t n);

struct delivery_attempt {
    int64_t attempt; /* 1-based */
    int64_t started_ms;
    int64_t duration_ms;
    int64_t http_status; /* 0: no response */
    char *error;         /* "" on success */
    char *instance;
};
void delivery_attempts_free(struct delivery_attempt *v, size_t n);

struct outcome {
    char signal_id[SIGNAL_ID_MAX];
    enum signal_status result; /* WON, LOST or EXPIRED */
    bool has_price;
    int64_t price; /* the take-profit or stop-loss level touched */
    int64_t decided_ms;
    bool has_candle;
    enum timeframe tf;   /* of the deciding candle */
    int64_t candle_time; /* its open time, Unix s */
    bool ambiguous;      /* the candle touched both and no lower timeframe settled it */
    int64_t created_ms;
};

struct backtest {
    int64_t id;
    char *name;
    int64_t created_ms;
    char *params;  /* JSON text as given (validated by the caller) */
    char *metrics; /* JSON text */
};
void backtests_free(struct backtest *v, size_t n);

#endif
