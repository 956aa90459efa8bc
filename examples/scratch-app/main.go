// A second app for Switchyard, unlike the sample: one static binary in a
// FROM scratch image (no shell, no curl, no cat), listening on :8000 with its
// health on /healthz. It speaks the sample app's API (/version, /visits,
// /slow) so the same load runs against it, and it needs variables of its own:
// APP_GREETING (plain) and APP_SECRET_TOKEN (secret; /healthz fails without
// it). /version shows the greeting and the token's sha256 prefix, never the
// token. `app migrate` is its migration (the image's entrypoint, exec form).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

var (
	colour   = getenv("SWITCHYARD_COLOR", "unknown")
	image    = getenv("SWITCHYARD_IMAGE", "unknown")
	greeting = os.Getenv("APP_GREETING")
	token    = os.Getenv("APP_SECRET_TOKEN")
)

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func tokenDigest() string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:12]
}

const schema = `CREATE TABLE IF NOT EXISTS visits (id BIGSERIAL PRIMARY KEY, color TEXT NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now())`

func main() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		migrate(ctx, pool)
		return
	}
	ropts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(ropts)
	for attempt := 1; attempt <= 30; attempt++ {
		if _, err = pool.Exec(ctx, schema); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	port := getenv("PORT", "8000")
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Switchyard-Color", colour)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		c, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		detail := "postgres and redis answer"
		if token == "" {
			detail = "APP_SECRET_TOKEN is not set"
		} else if err := pool.Ping(c); err != nil {
			detail = "postgres: " + err.Error()
		} else if err := rdb.Ping(c).Err(); err != nil {
			detail = "redis: " + err.Error()
		} else {
			send(w, 200, map[string]any{"status": "ok", "color": colour, "detail": detail})
			return
		}
		send(w, 500, map[string]any{"status": "unhealthy", "color": colour, "detail": detail})
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		send(w, 200, map[string]any{"color": colour, "image": image, "greeting": greeting, "tokenSha": tokenDigest()})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		ms = max(0, min(ms, 60000))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		send(w, 200, map[string]any{"color": colour, "sleptMs": ms})
	})
	mux.HandleFunc("/visits", func(w http.ResponseWriter, r *http.Request) {
		c := r.Context()
		if r.Method == http.MethodPost {
			note, _ := io.ReadAll(io.LimitReader(r.Body, 200))
			var id int64
			if err := pool.QueryRow(c, "INSERT INTO visits (color, note) VALUES ($1, $2) RETURNING id", colour, string(note)).Scan(&id); err != nil {
				send(w, 500, map[string]any{"error": err.Error()})
				return
			}
			counter, err := rdb.Incr(c, "switchyard:visits").Result()
			if err != nil {
				send(w, 500, map[string]any{"error": err.Error()})
				return
			}
			send(w, 201, map[string]any{"id": id, "counter": counter, "color": colour})
			return
		}
		var lastID int64
		var lastColour *string
		if err := pool.QueryRow(c, "SELECT id, color FROM visits ORDER BY id DESC LIMIT 1").Scan(&lastID, &lastColour); err != nil && err.Error() != "no rows in result set" {
			send(w, 500, map[string]any{"error": err.Error()})
			return
		}
		body := map[string]any{"lastId": lastID, "lastColor": lastColour, "color": colour}
		if r.URL.Query().Get("count") == "1" {
			var n int64
			_ = pool.QueryRow(c, "SELECT count(*) FROM visits").Scan(&n)
			body["rows"] = n
		}
		counter, err := rdb.Get(c, "switchyard:visits").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			send(w, 500, map[string]any{"error": err.Error()})
			return
		}
		body["counter"] = counter
		send(w, 200, body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			send(w, 404, map[string]any{"error": "not found", "path": r.URL.Path})
			return
		}
		send(w, 200, map[string]any{"service": "switchyard-scratch-app", "color": colour, "image": image})
	})

	server := &http.Server{Addr: ":" + port, Handler: mux, IdleTimeout: 65 * time.Second, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		// Drain: stop accepting, close idle keep-alive connections, let
		// in-flight requests finish (Switchyard gives drainSeconds + 5).
		log.Printf("[%s] SIGTERM: draining in-flight requests", colour)
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = server.Shutdown(c)
	}()
	log.Printf("[%s] listening on :%s image=%s", colour, port, image)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	pool.Close()
	log.Printf("[%s] drained; exiting", colour)
}

// migrate: the schema, applied once; safe to run twice.
func migrate(ctx context.Context, pool *pgxpool.Pool) {
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := pool.Exec(c, schema); err != nil {
		fmt.Fprintf(os.Stderr, "migrate: %v\n", err)
		os.Exit(1)
	}
	if _, err := pool.Exec(c, "CREATE INDEX IF NOT EXISTS visits_color ON visits (color)"); err != nil {
		fmt.Fprintf(os.Stderr, "migrate: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("migrate: schema ready (visits, visits_color)")
}
