// One object of a type per thread, reused call after call so that the containers in it keep
// their memory: the per-call state of the run path allocates nothing once warm.
#pragma once

#include <cstddef>

namespace fastort {

// Lets go of a vector's memory once it has grown past `kept` items: a reused object keeps what
// ordinary calls need, not what one huge call did (a feed of a million names). For clear().
template <typename Vector>
void let_go_if_huge(Vector& vector, size_t kept = 1024) noexcept {
  if (vector.capacity() > kept) Vector().swap(vector);
}

// The calling thread's T (one per thread and `Use`) for the lifetime of this guard; null for a
// guard made while another on this thread holds it (a nested call: a signal handler's, a
// finalizer's). The T lives as long as the thread.
template <typename T, typename Use = T>
class ThreadExclusive {
 public:
  ThreadExclusive() : object_(in_use() ? nullptr : &thread_object()) {
    if (object_ != nullptr) in_use() = true;
  }
  ~ThreadExclusive() {
    if (object_ != nullptr) in_use() = false;
  }
  ThreadExclusive(const ThreadExclusive&) = delete;
  ThreadExclusive& operator=(const ThreadExclusive&) = delete;

  T* get() const noexcept { return object_; }

 private:
  static T& thread_object() {
    thread_local T object;
    return object;
  }
  static bool& in_use() {
    thread_local bool flag = false;
    return flag;
  }

  T* object_;
};

// The calling thread's T for the lifetime of this guard, emptied (T::clear()) when the guard
// ends; a guard made while the thread's T is in use (a nested call) gets a T of its own.
template <typename T>
class ReusedPerThread {
 public:
  ReusedPerThread() : object_(thread_.get() != nullptr ? thread_.get() : &own_) {}
  ~ReusedPerThread() { object_->clear(); }
  ReusedPerThread(const ReusedPerThread&) = delete;
  ReusedPerThread& operator=(const ReusedPerThread&) = delete;

  T& get() noexcept { return *object_; }

 private:
  ThreadExclusive<T> thread_;
  T own_;
  T* object_;
};

}  // namespace fastort
