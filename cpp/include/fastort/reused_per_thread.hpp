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

// The calling thread's T for the lifetime of this guard, emptied (T::clear()) when the guard
// ends; a guard made while the thread's T is in use (a nested call) gets a T of its own.
template <typename T>
class ReusedPerThread {
 public:
  ReusedPerThread() : reused_(!in_use()), object_(reused_ ? &thread_object() : &own_) {
    if (reused_) in_use() = true;
  }
  ~ReusedPerThread() {
    object_->clear();
    if (reused_) in_use() = false;
  }
  ReusedPerThread(const ReusedPerThread&) = delete;
  ReusedPerThread& operator=(const ReusedPerThread&) = delete;

  T& get() noexcept { return *object_; }

 private:
  static T& thread_object() {
    thread_local T object;
    return object;
  }
  static bool& in_use() {
    thread_local bool flag = false;
    return flag;
  }

  bool reused_;
  T own_;
  T* object_;
};

}  // namespace fastort
