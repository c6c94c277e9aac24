/*
 * list.h: an intrusive, circular doubly-linked list (the shape of git's and the Linux
 * kernel's list.h).
 *
 * A list is a `struct list_head` used as a sentinel: an empty list points at itself. Each
 * element embeds a `struct list_head` and is found back from it with list_entry(). Removing an
 * element is O(1) and needs no knowledge of which list holds it.
 *
 * Ownership: the list owns nothing. The caller allocates and frees the elements; an element must
 * be list_del()eted (or its whole list dropped) before it is freed. list_del() leaves the node
 * pointing at itself, so list_empty() on a removed node is true and a second list_del() is
 * harmless. No locking: the caller serialises access.
 */
#ifndef COMMON_LIST_H
#define COMMON_LIST_H

#include <stddef.h>

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name)     \
	{                        \
		&(name), &(name) \
	}

/* Makes head an empty list (or a detached node). */
static inline void list_init(struct list_head *head)
{
	head->next = head;
	head->prev = head;
}

/* Returns 1 when the list holds no element (or the node is detached). */
static inline int list_empty(const struct list_head *head)
{
	return head->next == head;
}

static inline void list_link(struct list_head *node, struct list_head *prev, struct list_head *next)
{
	next->prev = node;
	node->next = next;
	node->prev = prev;
	prev->next = node;
}

/* Inserts node right after head (push front). */
static inline void list_add(struct list_head *node, struct list_head *head)
{
	list_link(node, head, head->next);
}

/* Inserts node right before head, at the end of the list (push back). */
static inline void list_add_tail(struct list_head *node, struct list_head *head)
{
	list_link(node, head->prev, head);
}

/* Unlinks node from whatever list holds it and leaves it detached. */
static inline void list_del(struct list_head *node)
{
	node->next->prev = node->prev;
	node->prev->next = node->next;
	list_init(node);
}

/* The struct of the given type whose `member` is ptr. */
#define list_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Iterates over the nodes; the current node must not be removed. */
#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Iterates over the nodes; the current node may be removed (n holds the next one). */
#define list_for_each_safe(pos, n, head)                               \
	for ((pos) = (head)->next, (n) = (pos)->next; (pos) != (head); \
	     (pos) = (n), (n) = (pos)->next)

#endif
