// How much config text is read, in a module of its own: the serving thread checks file sizes without loading the parser.

/**
 * Largest config file read (bytes). Kubernetes keeps an object within etcd's 1.5 MiB and a ConfigMap within 1 MiB;
 * 16 MiB leaves room for thousands of resources in one file while a 50 MB file is refused unread.
 */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

/**
 * Aliases resolved per document: the `yaml` package's default, which stops exponential ("billion laughs")
 * expansion; Kubernetes manifests rarely use aliases at all.
 */
export const MAX_ALIAS_COUNT = 100;
